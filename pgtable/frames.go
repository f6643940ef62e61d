package pgtable

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	// PageShift is log2 of PageSize.
	PageShift = 12
	// PageSize is the size of a frame and of a virtual page, in bytes.
	PageSize = 1 << PageShift
	// PageMask selects the offset inside a page.
	PageMask = PageSize - 1
	// WordsPerPage is the number of 64-bit words in a frame.
	WordsPerPage = PageSize / 8
	// Poison is the word every freed frame is filled with, the value of the
	// Linux slab's POISON_FREE byte (0x6b) repeated. A load that returns it
	// where the program never stored it is a use after free.
	Poison uint64 = 0x6b6b6b6b6b6b6b6b
)

// DefaultFrames is the capacity NewFrames uses when asked for n <= 0:
// 1 GiB of simulated memory. Backing memory is allocated chunk by chunk as
// frames are first used, so a large capacity costs little until touched.
const DefaultFrames = 1 << 18

// chunkShift sets how many frames share one lazily allocated chunk.
const (
	chunkShift  = 9
	chunkFrames = 1 << chunkShift // 512 frames = 2 MiB of words per chunk
	chunkMask   = chunkFrames - 1
)

// ErrNoMemory is returned by Frames.Alloc when every frame is in use: the
// caller's out-of-memory path.
var ErrNoMemory = errors.New("pgtable: out of physical frames")

// PFN is a physical frame number. Frame 0 is ZeroPFN; allocatable frames
// are 1..Capacity().
type PFN uint32

// ZeroPFN is the shared read-only zero frame (Linux's ZERO_PAGE). It reads
// as zeros forever, is never freed, and Get/Put/TryGet on it are no-ops.
// Store, WriteAt, CompareAndSwap and Copy into it panic: the simulator must
// copy on write first.
const ZeroPFN PFN = 0

// chunk holds the words and reference counts of up to chunkFrames
// consecutive frames. Once published in Frames.chunks it never moves, so
// concurrent accessors may keep using it without a lock.
type chunk struct {
	// words is accessed only through sync/atomic. Its length is fixed at
	// allocation (the last chunk may be short).
	words [][WordsPerPage]uint64
	// ref is each frame's reference count; 0 means free. Atomic.
	ref []atomic.Int32
}

// Frames is simulated physical memory: a fixed number of 4 KiB frames with
// reference counts, a LIFO free list, and poison on free.
//
// Frames is safe for concurrent use by any number of goroutines. Frame
// contents are read and written only through sync/atomic, so goroutines
// that race on one frame (a simulated data race, or a use after free) are
// never a Go data race. Alloc and Put serialize on a small mutex around the
// free list; every other method is lock-free.
type Frames struct {
	// n is the number of allocatable frames. Immutable.
	n int
	// chunks indexes the lazily allocated chunks by pfn>>chunkShift. The
	// slice itself is immutable (pre-sized, never reallocated, so a chunk
	// never moves); each entry is published once, under mu.
	chunks []atomic.Pointer[chunk]
	// inUse counts allocated frames. Atomic.
	inUse atomic.Int64

	mu sync.Mutex
	// free is the LIFO stack of freed frames. Protected by mu.
	free []PFN
	// next is the lowest frame number never handed out. Protected by mu.
	next PFN
}

// NewFrames returns physical memory with n allocatable frames plus the zero
// frame. n <= 0 means DefaultFrames. Memory for the frames is allocated in
// chunks of 512 frames on first use.
func NewFrames(n int) *Frames {
	if n <= 0 {
		n = DefaultFrames
	}
	if n > int(^PFN(0))-1 {
		n = int(^PFN(0)) - 1
	}
	f := &Frames{
		n:      n,
		chunks: make([]atomic.Pointer[chunk], (n+1+chunkMask)>>chunkShift),
		next:   1,
	}
	f.chunks[0].Store(f.newChunk(0))
	// The zero frame is pinned: its count never reaches zero, so Get on it
	// could never look like a use after free even if a caller forgot the
	// no-op rule.
	f.chunks[0].Load().ref[0].Store(1)
	return f
}

// newChunk allocates chunk i, sized to the frames that exist.
func (f *Frames) newChunk(i int) *chunk {
	frames := min(chunkFrames, f.n+1-i<<chunkShift)
	return &chunk{
		words: make([][WordsPerPage]uint64, frames),
		ref:   make([]atomic.Int32, frames),
	}
}

// frame returns the words of frame p. It panics if p was never allocated
// (a PFN that came from nowhere is a programmer error).
func (f *Frames) frame(p PFN) *[WordsPerPage]uint64 {
	c := f.chunks[p>>chunkShift].Load()
	if c == nil {
		panicNeverAllocated(p)
	}
	return &c.words[p&chunkMask]
}

// ref returns the reference count of frame p.
func (f *Frames) ref(p PFN) *atomic.Int32 {
	c := f.chunks[p>>chunkShift].Load()
	if c == nil {
		panicNeverAllocated(p)
	}
	return &c.ref[p&chunkMask]
}

func panicNeverAllocated(p PFN) {
	panic(fmt.Sprintf("pgtable: frame %d was never allocated", p))
}

// Capacity returns the number of allocatable frames (the zero frame is not
// counted). Immutable; safe for concurrent use.
func (f *Frames) Capacity() int { return f.n }

// InUse returns the number of frames allocated and not yet freed. Safe for
// concurrent use; the value may be stale by the time it is used.
func (f *Frames) InUse() int { return int(f.inUse.Load()) }

// Alloc returns a zeroed frame with reference count 1, or ErrNoMemory when
// every frame is in use. The most recently freed frame is reused first
// (LIFO), so a stale reference to a freed frame soon sees someone else's
// data, as on a real machine. Safe for concurrent use.
//
// Compare mm/page_alloc.c: alloc_pages() with __GFP_ZERO, whose per-CPU
// lists are LIFO for the same cache-warmth reason.
func (f *Frames) Alloc() (PFN, error) {
	f.mu.Lock()
	var p PFN
	fresh := false
	if k := len(f.free); k > 0 {
		p = f.free[k-1]
		f.free = f.free[:k-1]
	} else if int(f.next) <= f.n {
		p = f.next
		f.next++
		fresh = true
		if i := p >> chunkShift; f.chunks[i].Load() == nil {
			f.chunks[i].Store(f.newChunk(int(i)))
		}
	} else {
		f.mu.Unlock()
		return 0, ErrNoMemory
	}
	f.mu.Unlock()

	// The frame is ours now; zero it outside the lock. A never-used frame
	// is already zero. Stale readers may still be loading it (that is the
	// use after free the simulator exists to expose), hence atomic stores.
	if !fresh {
		w := f.frame(p)
		for i := range w {
			atomic.StoreUint64(&w[i], 0)
		}
	}
	f.ref(p).Store(1)
	f.inUse.Add(1)
	return p, nil
}

// Get takes a reference to frame p (Linux get_page). p must be live: Get on
// a free frame panics, because it means the caller used a frame after its
// last reference was dropped. Get on ZeroPFN is a no-op. Safe for
// concurrent use.
func (f *Frames) Get(p PFN) {
	if p == ZeroPFN {
		return
	}
	r := f.ref(p)
	for {
		c := r.Load()
		if c <= 0 {
			panic(fmt.Sprintf("pgtable: Get of free frame %d (use after free)", p))
		}
		if r.CompareAndSwap(c, c+1) {
			return
		}
	}
}

// TryGet takes a reference to frame p unless it is free, and reports
// whether it did (Linux get_page_unless_zero / folio_try_get). A lock-free
// walker (gup-fast) that read p from a PTE uses it, then re-reads the PTE
// to check that p is still mapped there: a frame freed and reallocated in
// between would pass TryGet. TryGet on ZeroPFN returns true. Safe for
// concurrent use.
func (f *Frames) TryGet(p PFN) bool {
	if p == ZeroPFN {
		return true
	}
	r := f.ref(p)
	for {
		c := r.Load()
		if c <= 0 {
			return false
		}
		if r.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// Put drops a reference to frame p (Linux put_page). When the count reaches
// zero the frame is filled with Poison and pushed on the free list, so the
// next Alloc returns it. Put panics if the count is already zero
// (underflow: a double free). Put on ZeroPFN is a no-op. Safe for
// concurrent use.
func (f *Frames) Put(p PFN) {
	if p == ZeroPFN {
		return
	}
	r := f.ref(p)
	for {
		c := r.Load()
		if c <= 0 {
			panic(fmt.Sprintf("pgtable: Put of free frame %d (refcount underflow)", p))
		}
		if r.CompareAndSwap(c, c-1) {
			if c == 1 {
				f.release(p)
			}
			return
		}
	}
}

// release poisons a frame whose last reference was dropped and returns it
// to the free list. Poisoning happens before the push: once on the list
// the frame belongs to the next Alloc.
func (f *Frames) release(p PFN) {
	w := f.frame(p)
	for i := range w {
		atomic.StoreUint64(&w[i], Poison)
	}
	f.inUse.Add(-1)
	f.mu.Lock()
	f.free = append(f.free, p)
	f.mu.Unlock()
}

// Refcount returns the reference count of frame p: 0 for a free frame, and
// always 1 for ZeroPFN (pinned). Safe for concurrent use; the value may be
// stale by the time it is used.
func (f *Frames) Refcount(p PFN) int32 {
	return f.ref(p).Load()
}
