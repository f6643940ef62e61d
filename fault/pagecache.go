package fault

import "github.com/vmsim/vmsim/pgtable"

// pageCache is an inode's page cache bound to one pool of physical frames:
// Linux's struct address_space (its i_pages xarray) with the frames it
// indexes. An inode's page cache belongs to one address space's physical
// memory: the first fault binds it to that fault's frame pool, and a fault
// from another pool gets SIGBUS until the cache is released
// (File.ReleaseFrames, File.DropCache), when a new pageCache may bind to
// another pool.
//
// Every cached frame carries one reference owned by the cache. Pages are
// inserted only once filled (uptodate), so a reader that finds a frame
// may map it at once.
//
// Concurrency: frames is immutable. Readers use tryGet with no lock;
// writers (insertion, removal) hold the inode's mu. flights is per
// binding, so a read for a released cache never serves a fault on its
// successor.
type pageCache struct {
	frames *pgtable.Frames // immutable; the pool every cached frame comes from
	pages  xarray          // page offset → frame; lock-free reads, writes under inode.mu

	// flights deduplicates concurrent misses on one page, keyed by page
	// offset (Linux: the locked folio that filemap_fault waits on). Safe
	// for concurrent use.
	flights flights
}

// tryGet returns the frame caching page pgoff with a new reference for the
// caller, or false if the page is not cached. It never blocks, so the
// fast path may call it under RCU.
//
// The frame is read from the xarray with no lock, so by the time TryGet
// runs it may have been removed, freed and reallocated to anyone; TryGet
// then takes a reference on someone else's frame, or fails on a free one.
// Re-reading the slot after TryGet closes that window: if the slot still
// holds the same frame, the reference is on this file's page at pgoff
// (a frame re-inserted at the same index is again that page, filled
// before insertion). Compare mm/filemap.c: filemap_get_entry and
// next_uptodate_folio (folio_try_get, then xas_reload and the
// folio->mapping recheck).
func (pc *pageCache) tryGet(pgoff uint64) (pgtable.PFN, bool) {
	p := pc.pages.Load(pgoff)
	if p == pgtable.ZeroPFN {
		return 0, false
	}
	return p, pc.tryGetLoaded(pgoff, p)
}

// tryGetLoaded takes a reference on frame p, which the caller read from
// slot pgoff with no lock, and reports whether p is still the page there
// (if not, it takes no reference). It never blocks.
func (pc *pageCache) tryGetLoaded(pgoff uint64, p pgtable.PFN) bool {
	if !pc.frames.TryGet(p) {
		return false
	}
	if pc.pages.Load(pgoff) != p {
		pc.frames.Put(p)
		return false
	}
	return true
}
