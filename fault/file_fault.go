package fault

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
)

// maxFillAttempts bounds Fault's loop of "look up, else read": a read's
// page can only vanish before its faults take their references if a
// Truncate or DropCache races with them, and after this many rounds the
// fault returns Retry to the handler instead of spinning.
const maxFillAttempts = 4

// MapPages is the fast path (Linux's ->map_pages, mm/filemap.c:
// filemap_map_pages): inside an RCU read-side section, with no reference
// on vf.VMA, it maps every page of [start, end) that is in the page
// cache, read-only, with vf.MapPage, and returns NoPage if the page at
// vf.Pgoff is now mapped (by this call or already, by a racing fault),
// else Retry: a miss, which the slow path reads, or a lost race (the VMA
// detached, the file truncated), which the handler sorts out.
//
// It never blocks: it takes no lock, looks pages up in the lock-free
// xarray and takes each frame's reference with TryGet (see
// pageCache.tryGet). A write fault returns Retry at once (Linux uses
// ->map_pages only in do_read_fault), and so does a fault on a page
// wholly beyond the end of the file (the slow path delivers SIGBUS) or
// from an address space whose frames do not hold the cache. Pages beyond
// the end are never mapped: MapPages stops at the size it reads, and
// MapPage re-checks Pages under the page-table lock, which orders it
// against Truncate's zap.
func (f *File) MapPages(vf *VMFault, start, end uint64) Result {
	if vf.Write() {
		return Retry
	}
	in := f.ino
	pc := in.cache.Load()
	if pc == nil || pc.frames != vf.Frames() {
		return Retry
	}
	pages := f.Pages()
	if vf.Pgoff >= pages {
		return Retry // beyond EOF: the slow path delivers SIGBUS
	}
	// Clamp to the VMA (the handler already does) and to the file.
	v := vf.VMA
	start = max(start, v.Pgoff)
	end = min(end, v.Pgoff+(v.End-v.Start)/pgtable.PageSize, pages)
	res := Retry
	for pgoff := start; pgoff < end; pgoff++ {
		p, ok := pc.tryGet(pgoff)
		if !ok {
			continue
		}
		addr := v.Start + (pgoff-v.Pgoff)*pgtable.PageSize
		if vf.MapPage(addr, p) && pgoff == vf.Pgoff {
			res = NoPage
		}
		pc.frames.Put(p) // the PTE took its own reference
	}
	if res == NoPage {
		in.hits.Add(1)
	}
	return res
}

// Fault is the slow path (mm/filemap.c: filemap_fault). It may sleep. It
// returns SIGBUS if vf.Pgoff lies wholly beyond the end of the file, or if
// the page cache is bound to another address space's frames. A cached
// page is returned at once. On a miss, the first fault to arrive reads
// the page: it sleeps MissLatency with no lock held, allocates a frame
// from vf.Frames() (OOM if none), fills it from the disk (zeros beyond
// the end of the file) and inserts it into the page cache, which keeps
// one reference; its result carries Major. Faults on the same page that
// arrive meanwhile wait for that read instead of doing their own
// (Linux: they sleep on the locked folio) and are counted in Waits.
//
// On success vf.Page is the page-cache frame with one reference for the
// caller, and vf.Owned stays false: the page is shared, so the handler
// copies it for a private write fault.
func (f *File) Fault(vf *VMFault) Result {
	in := f.ino
	frames := vf.Frames()
	var major Result
	for attempt := range maxFillAttempts {
		if vf.Pgoff >= f.Pages() {
			return SIGBUS
		}
		pc := in.bind(frames)
		if pc == nil {
			return SIGBUS // the cache lives in another address space's frames
		}
		if p, ok := pc.tryGet(vf.Pgoff); ok {
			if attempt == 0 {
				in.hits.Add(1)
			}
			vf.Page = p
			return major
		}
		if attempt == 0 {
			in.misses.Add(1)
		}
		// Drop the mmap or VMA lock for the I/O if the fault may, and ask
		// for a retry that will find the page cached (mm/filemap.c:
		// filemap_fault → maybe_unlock_mmap_for_io).
		released := vf.ReleaseForIO()
		res := in.fill(vf.Sched(), pc, vf.Pgoff)
		if res.Error() {
			return res
		}
		major |= res & Major
		if released {
			return Retry | major
		}
	}
	return Retry
}

// bind returns the page cache bound to frames, binding a new one if the
// inode has none, or nil if the cache is bound to another pool.
func (in *inode) bind(frames *pgtable.Frames) *pageCache {
	for {
		if pc := in.cache.Load(); pc != nil {
			if pc.frames != frames {
				return nil
			}
			return pc
		}
		pc := &pageCache{frames: frames}
		if in.cache.CompareAndSwap(nil, pc) {
			return pc
		}
	}
}

// fill makes sure page pgoff is in pc, reading it unless another fault is
// already doing so, in which case it waits for that read. It returns OOM,
// Major if this call did the I/O, or 0; the caller looks the page up
// again (it may be gone already, or never inserted if a Truncate or
// DropCache won the race).
func (in *inode) fill(s *sched.Sched, pc *pageCache, pgoff uint64) Result {
	res, led := pc.flights.do(s, pgoff, func() Result { return in.readPage(s, pc, pgoff) })
	if !led {
		in.waits.Add(1)
		return res &^ Major
	}
	return res
}

// readPage reads page pgoff into a new frame and inserts it into pc,
// unless it is already there, beyond the end of the file, or pc has been
// unbound meanwhile. Compare mm/filemap.c: page_cache_read /
// filemap_add_folio and filemap_read_folio.
func (in *inode) readPage(s *sched.Sched, pc *pageCache, pgoff uint64) Result {
	// A read that completed between the caller's miss and this flight
	// starting has left the page in the cache: no I/O needed.
	if pc.pages.Load(pgoff) != 0 {
		return 0
	}
	if in.latency > 0 {
		s.Sleep(in.latency) // with no lock held
	}
	p, err := pc.frames.Alloc()
	if err != nil {
		return OOM
	}
	s.Point("pagecache.insert")
	in.mu.Lock()
	if in.cache.Load() != pc || pgoff >= pagesOf(in.size.Load()) || pc.pages.Load(pgoff) != 0 {
		// Truncated, dropped or filled meanwhile (the last only by a
		// flight that started after this one's key was released).
		in.mu.Unlock()
		pc.frames.Put(p)
		return 0
	}
	// The frame is zeroed, and the disk holds nothing beyond the end of
	// the file (but in a tmpfs file's last page), so the tail of a last
	// partial page reads as zeros (or as tmpfs kept it).
	if pg := in.disk[pgoff]; pg != nil {
		pc.frames.Set(p, pg[:]) // nobody maps p yet
	}
	pc.pages.StoreLocked(pgoff, p)
	in.cached.Add(1)
	in.reads.Add(1)
	in.mu.Unlock()
	if in.shmem {
		return 0 // a zero-filled shmem page is a minor fault (shmem_fault)
	}
	return Major
}
