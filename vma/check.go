package vma

import "fmt"

// CheckLocked verifies the tree's invariants and returns the first
// violation found, or nil: the published snapshot holds page-aligned,
// sorted, non-overlapping, live, attached VMAs; with no Txn open, the
// writer's tree holds exactly the published VMAs; and the gap index is
// exactly the complement of the writer's current VMAs in [0, AddrLimit),
// with a correct augmentation. It is O(n), for tests and
// AddressSpace.Check.
//
// Preconditions: the caller holds the writer lock (a Txn may be open; its
// working state is what the gap index is checked against).
func (t *Tree) CheckLocked() error {
	snap := t.Snapshot()
	if err := snap.view.check(); err != nil {
		return fmt.Errorf("vma: snapshot: %w", err)
	}
	// Once the open Txn has detached, the snapshot shows detached VMAs
	// until it publishes.
	attached := t.txn == nil || !t.txn.pendingDetach
	if err := checkLayout("snapshot", snap.vmas(), attached); err != nil {
		return err
	}
	cur := t.master
	if t.txn != nil {
		cur = t.txn.view
	} else {
		pub, mine := snap.vmas(), cur.vmas()
		if len(pub) != len(mine) {
			return fmt.Errorf("vma: published snapshot has %d VMAs, writer's tree %d", len(pub), len(mine))
		}
		for i := range pub {
			if pub[i] != mine[i] {
				return fmt.Errorf("vma: published VMA %v differs from writer's %v", pub[i], mine[i])
			}
		}
	}
	if err := cur.check(); err != nil {
		return fmt.Errorf("vma: writer's tree: %w", err)
	}
	vmas := cur.vmas()
	if err := checkLayout("writer's tree", vmas, false); err != nil {
		return err
	}
	if err := t.gaps.check(); err != nil {
		return fmt.Errorf("vma: gap index: %w", err)
	}
	// The gaps, in order, must be the complement of vmas.
	var want [][2]uint64
	next := uint64(0)
	for _, v := range vmas {
		if v.Start > next {
			want = append(want, [2]uint64{next, v.Start})
		}
		next = v.End
	}
	if next < AddrLimit {
		want = append(want, [2]uint64{next, AddrLimit})
	}
	i := 0
	var err error
	t.gaps.ascend(func(start, end uint64) {
		switch {
		case err != nil:
		case i >= len(want) || want[i] != [2]uint64{start, end}:
			err = fmt.Errorf("vma: gap index has [%#x,%#x) at position %d, layout wants %#x", start, end, i, want)
		}
		i++
	})
	if err == nil && i != len(want) {
		err = fmt.Errorf("vma: gap index has %d gaps, layout has %d", i, len(want))
	}
	return err
}

// check verifies the B+tree's structure and its count.
func (s view) check() error {
	if _, err := s.root.check(true); err != nil {
		return err
	}
	if got := len(s.vmas()); got != s.n {
		return fmt.Errorf("tree counts %d VMAs and holds %d", s.n, got)
	}
	return nil
}

// checkLayout checks that vmas are live, page-aligned, sorted and
// non-overlapping, and, if attached, that each is attached.
func checkLayout(what string, vmas []*VMA, attached bool) error {
	var prevEnd uint64
	for i, v := range vmas {
		if v.Poisoned() {
			return fmt.Errorf("vma: %s holds a freed VMA at index %d", what, i)
		}
		if v.Start >= v.End || v.End > AddrLimit || v.Start%PageSize != 0 || v.End%PageSize != 0 {
			return fmt.Errorf("vma: %s holds malformed %v", what, v)
		}
		if i > 0 && v.Start < prevEnd {
			return fmt.Errorf("vma: %s: %v overlaps or precedes %v", what, v, vmas[i-1])
		}
		if attached && !v.Attached() {
			return fmt.Errorf("vma: %s holds detached %v", what, v)
		}
		prevEnd = v.End
	}
	return nil
}
