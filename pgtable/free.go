package pgtable

import "sync/atomic"

// FreeEmpty frees the tables lying wholly inside [start, end) that map
// nothing: each leaf with no non-zero entry is unlinked and marked dead
// under its lock (so a LockLeaf that raced with it walks again), and each
// PMD or PUD table left with no children is unlinked too. Tables that
// straddle start or end are kept, as are leaves still holding entries. To
// free the tables of a hole between two mappings, pass the whole hole
// (Linux passes the neighbouring VMAs as floor and ceiling).
//
// A lock-free walker may still be reading a table FreeEmpty unlinked; it
// sees an empty table, and the garbage collector frees it when the walker
// is done. start and end must be page-aligned (a programmer error
// otherwise); end is clamped to AddressLimit.
//
// Preconditions: no other FreeEmpty on t runs at the same time (the caller
// holds the address space's write lock). Everything else may run
// concurrently.
//
// Compare mm/memory.c: free_pgtables() and free_pgd_range().
func (t *Table) FreeEmpty(start, end uint64) {
	start, end = checkRange("FreeEmpty", start, end)
	if start >= end {
		return
	}
	inside := func(base uint64, shift uint) bool {
		return base >= start && base+1<<shift <= end
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for gi := pgdIndex(start); gi <= pgdIndex(end-1); gi++ {
		pud := t.pgd[gi].Load()
		if pud == nil {
			continue
		}
		pudBase := gi << pgdShift
		lo, hi := childSpan(pudBase, pudShift, start, end)
		for ui := lo; ui <= hi; ui++ {
			pmd := pud.slot[ui].Load()
			if pmd == nil {
				continue
			}
			pmdBase := pudBase + ui<<pudShift
			lo, hi := childSpan(pmdBase, pmdShift, start, end)
			for mi := lo; mi <= hi; mi++ {
				if l := pmd.slot[mi].Load(); l != nil && inside(l.base, pmdShift) {
					freeLeafLocked(&pmd.slot[mi], l)
				}
			}
			if inside(pmdBase, pudShift) && pmd.empty() {
				pud.slot[ui].Store(nil)
			}
		}
		if inside(pudBase, pgdShift) && pud.empty() {
			t.pgd[gi].Store(nil)
		}
	}
}

// childSpan returns the first and last index of the children (each
// 1<<shift bytes) of the table at base that intersect [start, end).
// Preconditions: the table intersects [start, end).
func childSpan(base uint64, shift uint, start, end uint64) (lo, hi uint64) {
	lo, hi = 0, levelMask
	if start > base {
		lo = (start - base) >> shift
	}
	if last := end - 1 - base; last>>shift < levelMask {
		hi = last >> shift
	}
	return lo, hi
}

// freeLeafLocked unlinks l from slot and marks it dead if it holds no
// entry. Unlinking and marking happen under l's lock, so a LockLeaf that
// then finds l dead is sure not to find it again.
// Preconditions: t.mu is held.
func freeLeafLocked(slot *atomic.Pointer[Leaf], l *Leaf) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used != 0 {
		return
	}
	slot.Store(nil)
	l.dead = true
}

func (p *pmdTable) empty() bool {
	for i := range p.slot {
		if p.slot[i].Load() != nil {
			return false
		}
	}
	return true
}

func (p *pudTable) empty() bool {
	for i := range p.slot {
		if p.slot[i].Load() != nil {
			return false
		}
	}
	return true
}
