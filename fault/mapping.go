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
// (by this call or by a racing fault); MapPageResult tells the two apart.
// A new PTE holds its own reference on p (MapPage takes it); the caller's
// references stay its own. It never blocks beyond the page-table lock, so
// MapPages may call it.
//
// Compare mm/memory.c: set_pte_range, called from filemap_map_pages.
func (vf *VMFault) MapPage(addr uint64, p pgtable.PFN) bool {
	return vf.mm.mapPage(vf, addr, p) != MapRefused
}

// MapPageResult is MapPage reporting what it did, so that a backing can
// count the PTEs it installed itself.
func (vf *VMFault) MapPageResult(addr uint64, p pgtable.PFN) MapResult {
	return vf.mm.mapPage(vf, addr, p)
}

// MapResult is what MapPageResult did.
type MapResult uint8

const (
	// MapRefused: nothing is mapped at addr: it lies outside the VMA or
	// is not page-aligned, the VMA was detached, or the page is beyond
	// the end of the backing.
	MapRefused MapResult = iota
	// MapInstalled: this call installed the PTE.
	MapInstalled
	// MapPresent: a PTE was already present (a racing or earlier fault
	// installed it); p was not mapped.
	MapPresent
)
