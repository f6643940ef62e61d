package fault

import "github.com/vmsim/vmsim/pgtable"

// Sizer is implemented by backings that have an end, like a file. The
// handler re-checks Pages under the page-table lock before it installs a
// PTE, so a fault that races with a truncation never leaves a PTE beyond
// the end of the file (Linux rechecks i_size and folio->mapping under the
// folio lock in filemap_map_pages and __do_fault for the same reason).
// Pages must be safe for concurrent use and must not block.
type Sizer interface {
	// Pages is the number of pages holding any byte of the backing:
	// ceil(size / PageSize).
	Pages() uint64
}

// MapPage installs a read-only PTE for frame p at addr, which must lie in
// vf.VMA, if the PTE is still empty, the VMA is still attached and (for a
// Sizer backing) the page is still inside the backing; all three are
// checked under the page-table lock. It reports whether addr is now mapped
// (by this call or by a racing fault). A new PTE holds its own reference
// on p (MapPage takes it); the caller's references stay its own.
// It never blocks beyond the page-table lock, so MapPages may call it.
//
// Compare mm/memory.c: set_pte_range, called from filemap_map_pages.
func (vf *VMFault) MapPage(addr uint64, p pgtable.PFN) bool {
	return vf.mm.mapPage(vf, addr, p)
}
