package pgtable

import "fmt"

// CopyTo copies the entries of [start, end) into dst at the same
// addresses, for fork (mm/memory.c: copy_page_range → copy_pte_range).
// For each non-zero entry e, fn returns what the source entry becomes
// (fn may write-protect it, but must keep its frame and PTEPresent) and
// the child's entry (0 for none); fn takes the frame references the
// child's entry holds. fn runs with the source leaf's lock held, and the
// destination leaf's once one is needed, so it must be quick and must
// not call into t or dst. Destination leaves are allocated only where an
// entry lands.
//
// Preconditions: start and end are page-aligned; the destination range
// of dst is empty and nobody else uses dst (the child of a fork is not
// yet visible); no FreeEmpty on t runs meanwhile (the caller holds the
// address space's write lock). Faults may run on t: each leaf is copied
// under its lock, so a fault installs before or after the copy of its
// leaf, never during.
func (t *Table) CopyTo(dst *Table, start, end uint64, fn func(addr uint64, e PTE) (src, child PTE)) {
	start, end = checkRange("CopyTo", start, end)
	t.forEachLeaf(start, end, func(l *Leaf, lo, hi uint64) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.used == 0 || l.dead {
			return true
		}
		t.s.Point("pte.copy")
		var dl *Leaf
		for i := pteIndex(lo); i <= pteIndex(hi-1); i++ {
			e := PTE(l.pte[i].Load())
			if e == 0 {
				continue
			}
			a := l.base + i<<PageShift
			s, c := fn(a, e)
			if s != e {
				if !s.Present() || s.PFN() != e.PFN() {
					panic(fmt.Sprintf("pgtable: CopyTo callback turned %v into %v (it must keep the frame and PTEPresent)", e, s))
				}
				l.pte[i].Store(uint64(s))
			}
			if c == 0 {
				continue
			}
			if dl == nil {
				dl = dst.LockLeaf(a)
			}
			if dl.pte[i].Load() != 0 {
				panic(fmt.Sprintf("pgtable: CopyTo: destination %#x already maps %v", a, PTE(dl.pte[i].Load())))
			}
			dl.used++
			dl.pte[i].Store(uint64(c))
		}
		if dl != nil {
			dl.mu.Unlock()
		}
		return true
	})
}
