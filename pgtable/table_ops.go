package pgtable

import "fmt"

// TableStats counts the tables and present entries of a Table.
type TableStats struct {
	// Leaves is the number of leaf tables linked in.
	Leaves int
	// Interior is the number of PUD and PMD tables linked in (the root is
	// part of the Table and not counted).
	Interior int
	// Present is the number of entries with PTEPresent.
	Present int
}

// checkRange panics unless start and end are page-aligned (a programmer
// error), and clamps end to AddressLimit.
func checkRange(op string, start, end uint64) (uint64, uint64) {
	if start&PageMask != 0 || end&PageMask != 0 {
		panic(fmt.Sprintf("pgtable: %s(%#x, %#x): unaligned range", op, start, end))
	}
	return start, min(end, AddressLimit)
}

// forEachLeaf calls fn for every leaf linked in that intersects
// [start, end), in address order, with the intersection [lo, hi). It skips
// absent subtrees whole. Lock-free: a leaf may be dead (and then empty) by
// the time fn sees it. It stops when fn returns false.
// Preconditions: end <= AddressLimit.
func (t *Table) forEachLeaf(start, end uint64, fn func(l *Leaf, lo, hi uint64) bool) {
	for a := start; a < end; {
		pud := t.pgd[pgdIndex(a)].Load()
		if pud == nil {
			a = nextBoundary(a, pgdShift)
			continue
		}
		pmd := pud.slot[pudIndex(a)].Load()
		if pmd == nil {
			a = nextBoundary(a, pudShift)
			continue
		}
		next := nextBoundary(a, pmdShift)
		if l := pmd.slot[pmdIndex(a)].Load(); l != nil {
			if !fn(l, a, min(next, end)) {
				return
			}
		}
		a = next
	}
}

// Zap clears every non-zero entry in [start, end), one leaf at a time under
// that leaf's lock, and appends to dst the frame of each cleared entry that
// was present and not ZeroPFN; it returns the extended dst. Frame
// references move from the entries to the caller, who Puts them after the
// TLB shootdown. Tables are left in place (see FreeEmpty). start and end
// must be page-aligned (a programmer error otherwise); end is clamped to
// AddressLimit. Safe for concurrent use.
//
// Compare mm/memory.c: zap_pte_range().
func (t *Table) Zap(start, end uint64, dst []PFN) []PFN {
	start, end = checkRange("Zap", start, end)
	t.forEachLeaf(start, end, func(l *Leaf, lo, hi uint64) bool {
		l.mu.Lock()
		if l.used > 0 {
			t.s.Point("pte.zap")
			for i := pteIndex(lo); i <= pteIndex(hi-1); i++ {
				e := PTE(l.pte[i].Load())
				if e == 0 {
					continue
				}
				l.pte[i].Store(0)
				l.used--
				if e.Present() && e.PFN() != ZeroPFN {
					dst = append(dst, e.PFN())
				}
			}
		}
		l.mu.Unlock()
		return true
	})
	return dst
}

// Protect replaces every present entry e in [start, end) with f(e), under
// the entry's leaf lock. f runs with that lock held: it must be quick and
// must not call into t. f must keep the frame and PTEPresent (unmapping is
// Zap's job, which hands back the frame); Protect panics otherwise. start
// and end must be page-aligned; end is clamped to AddressLimit. Safe for
// concurrent use.
//
// Compare mm/mprotect.c: change_pte_range().
func (t *Table) Protect(start, end uint64, f func(PTE) PTE) {
	start, end = checkRange("Protect", start, end)
	t.forEachLeaf(start, end, func(l *Leaf, lo, hi uint64) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.used == 0 {
			return true
		}
		t.s.Point("pte.protect")
		for i := pteIndex(lo); i <= pteIndex(hi-1); i++ {
			old := PTE(l.pte[i].Load())
			if !old.Present() {
				continue
			}
			e := f(old)
			if !e.Present() || e.PFN() != old.PFN() {
				panic(fmt.Sprintf("pgtable: Protect callback turned %v into %v (it must keep the frame and PTEPresent)", old, e))
			}
			l.pte[i].Store(uint64(e))
		}
		return true
	})
}

// Range calls fn for every present entry on a page that intersects
// [start, end), in address order, until fn returns false. It takes no
// lock: entries are loaded atomically one by one, so a concurrent writer
// may be seen for some pages and not others. fn may call into t. Safe for
// concurrent use.
func (t *Table) Range(start, end uint64, fn func(addr uint64, e PTE) bool) {
	start &^= PageMask
	end = min(end, AddressLimit)
	t.forEachLeaf(start, end, func(l *Leaf, lo, hi uint64) bool {
		for a := lo; a < hi; a += PageSize {
			if e := PTE(l.pte[pteIndex(a)].Load()); e.Present() {
				if !fn(a, e) {
					return false
				}
			}
		}
		return true
	})
}

// Stats counts tables and present entries by walking the whole table
// lock-free: under concurrent change the counts are a blur, not a
// snapshot. For tests and debugging.
func (t *Table) Stats() TableStats {
	var s TableStats
	for gi := range t.pgd {
		pud := t.pgd[gi].Load()
		if pud == nil {
			continue
		}
		s.Interior++
		for ui := range pud.slot {
			pmd := pud.slot[ui].Load()
			if pmd == nil {
				continue
			}
			s.Interior++
			for mi := range pmd.slot {
				l := pmd.slot[mi].Load()
				if l == nil {
					continue
				}
				s.Leaves++
				for i := range l.pte {
					if PTE(l.pte[i].Load()).Present() {
						s.Present++
					}
				}
			}
		}
	}
	return s
}
