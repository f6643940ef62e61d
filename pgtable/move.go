package pgtable

import "fmt"

// Move moves every non-zero entry of [oldStart, oldStart+length) to the
// same offset from newStart and clears the old entries (Linux
// mm/mremap.c: move_ptes()). Frame references move with the entries. The
// ranges may overlap, as when mremap shifts a mapping within its own span:
// entries are moved in the direction that never overwrites one not yet
// moved, like memmove.
//
// For each piece that lies in one source leaf and one destination leaf,
// Move holds both leaf locks, taken in address order (one lock when they
// are the same leaf), so no walker sees an entry in both places or
// neither under a lock. Destination leaves are allocated only where an
// entry is moved into them.
//
// It panics (programmer errors) if an address or length is not
// page-aligned, a range passes AddressLimit, or a destination slot holds a
// present entry when the entry bound for it arrives. Safe for concurrent
// use with everything but other writers of the same ranges, which the
// caller excludes (mremap holds the mmap write lock).
func (t *Table) Move(oldStart, length, newStart uint64) {
	if oldStart&PageMask != 0 || length&PageMask != 0 || newStart&PageMask != 0 ||
		oldStart > AddressLimit || newStart > AddressLimit ||
		length > AddressLimit-oldStart || length > AddressLimit-newStart {
		panic(fmt.Sprintf("pgtable: Move(%#x, %#x, %#x): unaligned or out of range", oldStart, length, newStart))
	}
	if length == 0 || oldStart == newStart {
		return
	}
	if newStart < oldStart {
		// Moving down: go up, so each destination that is also a source
		// has been emptied before it is filled.
		src, dst := oldStart, newStart
		for rest := length; rest > 0; {
			n := min(rest, LeafSize-src%LeafSize, LeafSize-dst%LeafSize)
			t.moveSpan(src, dst, n, true)
			src, dst, rest = src+n, dst+n, rest-n
		}
		return
	}
	// Moving up: go down from the top.
	srcEnd, dstEnd := oldStart+length, newStart+length
	for rest := length; rest > 0; {
		n := min(rest, srcEnd-(srcEnd-1)&^(LeafSize-1), dstEnd-(dstEnd-1)&^(LeafSize-1))
		t.moveSpan(srcEnd-n, dstEnd-n, n, false)
		srcEnd, dstEnd, rest = srcEnd-n, dstEnd-n, rest-n
	}
}

// moveSpan moves the n bytes of entries at src to dst, ascending or
// descending. [src, src+n) lies in one leaf and so does [dst, dst+n).
func (t *Table) moveSpan(src, dst, n uint64, ascending bool) {
	for {
		sl := t.walk(src)
		if sl == nil || !sl.hasEntries(src, n) {
			t.checkClear(dst, n)
			return
		}
		dl := t.walk(dst)
		if dl == nil {
			dl = t.populate(dst)
		}
		first, second := sl, dl
		if dl.base < sl.base {
			first, second = dl, sl
		}
		first.mu.Lock()
		if second != first {
			second.mu.Lock()
		}
		if !sl.dead && !dl.dead {
			t.s.Point("pte.move")
			bad, at := moveEntriesLocked(sl, dl, src, dst, n, ascending)
			unlockPair(first, second)
			if bad != 0 {
				panic(fmt.Sprintf("pgtable: Move: destination %#x already maps %v", at, bad))
			}
			return
		}
		// One of them was freed since the walk: look again.
		unlockPair(first, second)
	}
}

func unlockPair(first, second *Leaf) {
	if second != first {
		second.mu.Unlock()
	}
	first.mu.Unlock()
}

// moveEntriesLocked moves the entries and returns the first present
// destination entry it refused to overwrite, with its address.
// Preconditions: sl and dl are locked and live.
func moveEntriesLocked(sl, dl *Leaf, src, dst, n uint64, ascending bool) (PTE, uint64) {
	pages := n >> PageShift
	si, di := pteIndex(src), pteIndex(dst)
	for j := range pages {
		k := j
		if !ascending {
			k = pages - 1 - j
		}
		// In the chosen direction a destination that is also a source has
		// already been moved out, so anything present here is a caller bug.
		d := dl.pte[di+k].Load()
		if PTE(d).Present() {
			return PTE(d), dst + k<<PageShift
		}
		v := sl.pte[si+k].Load()
		if v == 0 {
			continue
		}
		if d == 0 {
			dl.used++
		}
		dl.pte[di+k].Store(v)
		sl.pte[si+k].Store(0)
		sl.used--
	}
	return 0, 0
}

// hasEntries reports whether any entry of [a, a+n) in l is non-zero.
// Within one leaf.
func (l *Leaf) hasEntries(a, n uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used == 0 {
		return false
	}
	for i := pteIndex(a); i < pteIndex(a)+n>>PageShift; i++ {
		if l.pte[i].Load() != 0 {
			return true
		}
	}
	return false
}

// checkClear panics if [a, a+n), within one leaf, holds a present entry:
// Move's destination must be empty even where nothing moves into it.
func (t *Table) checkClear(a, n uint64) {
	l := t.walk(a)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := pteIndex(a); i < pteIndex(a)+n>>PageShift; i++ {
		if e := PTE(l.pte[i].Load()); e.Present() {
			panic(fmt.Sprintf("pgtable: Move: destination %#x already maps %v", l.base+i<<PageShift, e))
		}
	}
}
