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
	chunkShift  = 6
	chunkFrames = 1 << chunkShift // 64 frames per chunk
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

// chunk holds the slots and reference counts of chunkFrames consecutive
// frames (the last chunk's frames beyond the capacity are never used),
// in one allocation. Once published in Frames.chunks it never moves, so
// concurrent accessors may keep using it without a lock.
type chunk struct {
	// slots holds each frame's storage.
	slots [chunkFrames]Slot
	// ref is each frame's reference count; 0 means free. Atomic.
	ref [chunkFrames]atomic.Int32
	// anon is each frame's anonymous owner (see SetAnon); 0 for a page
	// that is not anonymous. Atomic.
	anon [chunkFrames]atomic.Uint64
	// spare keeps a freed frame's storage for its next Alloc when
	// storage is recycled. Owned by whoever owns the frame: the releaser,
	// then (through the free list's mutex) the allocator.
	spare [chunkFrames]*[WordsPerPage]uint64
}

// A Slot is where one frame's contents live: a pointer to its storage,
// swapped with one atomic store when the frame is allocated (zeroed
// storage) and freed (poisoned storage). Storage is written without
// atomics only while no one else can reach it, so a reader of a freed
// frame sees poison, or the next owner's data once the frame is reused —
// a use after free, visible — and never a Go data race. A Slot's address
// is stable for the life of its Frames, so a TLB may cache it in place of
// the frame number.
type Slot struct {
	words atomic.Pointer[[WordsPerPage]uint64]
}

// Load atomically reads word (0..WordsPerPage-1) of the frame. Safe for
// concurrent use.
func (s *Slot) Load(word uint64) uint64 { return atomic.LoadUint64(&s.words.Load()[word]) }

// Store atomically writes word of the frame. The caller must hold a
// writable translation: the slot of ZeroPFN must never be stored to. Safe
// for concurrent use.
func (s *Slot) Store(word uint64, v uint64) { atomic.StoreUint64(&s.words.Load()[word], v) }

// zeroWords is the storage of ZeroPFN; poisonWords is copied into the
// storage of every freed frame. Neither is ever written.
var zeroWords, poisonWords [WordsPerPage]uint64

func init() {
	for i := range poisonWords {
		poisonWords[i] = Poison
	}
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
	// chunks indexes the lazily allocated chunks by pfn>>chunkShift,
	// chunk 0 (chunk0) aside. It is made, for every chunk the frames
	// need, when the first frame beyond chunk 0 is allocated, and never
	// reallocated, so a chunk never moves; each entry is published once,
	// under mu. Atomic; stored once, under mu. Read it with chunk.
	chunks atomic.Pointer[[]atomic.Pointer[chunk]]
	// inUse counts allocated frames. Atomic.
	inUse atomic.Int64
	// anonIDs is the last identity NewAnonID handed out. Atomic.
	anonIDs atomic.Uint64
	// fresh is FrameOptions.FreshStorage, or SetFreshStorage was called.
	// Atomic; once true it stays true.
	fresh atomic.Bool

	mu sync.Mutex
	// free is the LIFO stack of freed frames. Protected by mu.
	free []PFN
	// next is the lowest frame number never handed out. Protected by mu.
	next PFN

	// chunk0 is chunk 0, which holds the zero frame and so always
	// exists: kept here so that a Frames takes two allocations, itself
	// and its index.
	chunk0 chunk
}

// FrameOptions configure NewFramesWith.
type FrameOptions struct {
	// FreshStorage gives every allocated and every freed frame new
	// storage instead of recycling the frame's own. A simulation whose
	// threads may still access a frame after it is freed (one that skips
	// TLB shootdowns or grace periods to show the bug) needs it: recycled
	// storage is cleared with plain stores, which would race with those
	// stale accesses. It costs a 4 KiB allocation per Alloc and per free.
	FreshStorage bool
}

// NewFrames returns physical memory with n allocatable frames plus the zero
// frame. n <= 0 means DefaultFrames. Memory for the frames is allocated in
// chunks of 512 frames on first use.
func NewFrames(n int) *Frames { return NewFramesWith(n, FrameOptions{}) }

// NewFramesWith is NewFrames with options.
func NewFramesWith(n int, opt FrameOptions) *Frames {
	f := new(Frames)
	f.Init(n, opt)
	return f
}

// Init makes f, a zero Frames (one embedded in another struct, say), the
// memory NewFramesWith(n, opt) returns.
//
// Preconditions: f is a zero Frames and nothing else uses it yet.
func (f *Frames) Init(n int, opt FrameOptions) {
	if n <= 0 {
		n = DefaultFrames
	}
	if n > int(^PFN(0))-1 {
		n = int(^PFN(0)) - 1
	}
	f.n = n
	f.next = 1
	f.fresh.Store(opt.FreshStorage)
	f.chunk0.slots[0].words.Store(&zeroWords)
	// The zero frame is pinned: its count never reaches zero, so Get on it
	// could never look like a use after free even if a caller forgot the
	// no-op rule.
	f.chunk0.ref[0].Store(1)
}

// NewAnonID returns a new anon_vma identity, unique among the address
// spaces that allocate from f (which alone can share anonymous pages) and
// counted from 1 in the order asked for, so that a program gets the same
// identities on every run. Safe for concurrent use.
func (f *Frames) NewAnonID() uint64 { return f.anonIDs.Add(1) }

// SetFreshStorage turns FrameOptions.FreshStorage on from now on, for
// good: memory shared by several simulations needs it as soon as one of
// them may access frames after they are freed. Frames freed before the
// call cannot be reached by such a simulation, which did not exist yet.
// Safe for concurrent use.
func (f *Frames) SetFreshStorage() { f.fresh.Store(true) }

// chunk returns the chunk of frame p, or nil if no frame of it was ever
// allocated.
func (f *Frames) chunk(p PFN) *chunk {
	if p < chunkFrames {
		return &f.chunk0
	}
	if idx := f.chunks.Load(); idx != nil && int(p>>chunkShift) < len(*idx) {
		return (*idx)[p>>chunkShift].Load()
	}
	return nil
}

// Slot returns the storage slot of frame p, for callers that cache a
// translation (a TLB entry). It panics if p was never allocated. Safe for
// concurrent use.
func (f *Frames) Slot(p PFN) *Slot {
	c := f.chunk(p)
	if c == nil || c.slots[p&chunkMask].words.Load() == nil {
		panicNeverAllocated(p)
	}
	return &c.slots[p&chunkMask]
}

// frame returns the current storage of frame p. It panics if p was never
// allocated (a PFN that came from nowhere is a programmer error).
func (f *Frames) frame(p PFN) *[WordsPerPage]uint64 {
	c := f.chunk(p)
	if c == nil {
		panicNeverAllocated(p)
	}
	w := c.slots[p&chunkMask].words.Load()
	if w == nil {
		panicNeverAllocated(p)
	}
	return w
}

// publish makes w the storage of frame p.
func (f *Frames) publish(p PFN, w *[WordsPerPage]uint64) {
	f.chunk(p).slots[p&chunkMask].words.Store(w)
}

// ref returns the reference count of frame p.
func (f *Frames) ref(p PFN) *atomic.Int32 {
	c := f.chunk(p)
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
func (f *Frames) Alloc() (PFN, error) { return f.alloc(ZeroPFN) }

// AllocCopy is Alloc with the new frame holding a copy of frame src's
// contents instead of zeros (a copy-on-write fault's new page: Linux
// allocates without __GFP_ZERO and copies). Each word of src is read
// atomically; the copy is not a snapshot of a src being written. Safe for
// concurrent use.
func (f *Frames) AllocCopy(src PFN) (PFN, error) { return f.alloc(src) }

// alloc takes a free frame and gives it the contents of src (zeros for
// ZeroPFN).
func (f *Frames) alloc(src PFN) (PFN, error) {
	f.mu.Lock()
	var p PFN
	if k := len(f.free); k > 0 {
		p = f.free[k-1]
		f.free = f.free[:k-1]
	} else if int(f.next) <= f.n {
		p = f.next
		f.next++
		if i := p >> chunkShift; i > 0 {
			idx := f.chunks.Load()
			if idx == nil {
				all := make([]atomic.Pointer[chunk], (f.n+1+chunkMask)>>chunkShift)
				idx = &all
				f.chunks.Store(idx)
			}
			if (*idx)[i].Load() == nil {
				(*idx)[i].Store(new(chunk))
			}
		}
	} else {
		f.mu.Unlock()
		return 0, ErrNoMemory
	}
	f.mu.Unlock()

	// The frame is ours now: give it zeroed (or copied) storage.
	// Recycled storage is written with plain stores: nobody can reach
	// it, since the frame was freed only after every translation to it
	// was shot down. Fresh storage (FreshStorage) is for simulations
	// that skip that, whose stale readers may still be loading the old
	// storage.
	c := f.chunk(p)
	w := c.spare[p&chunkMask]
	c.spare[p&chunkMask] = nil
	switch {
	case w == nil || f.fresh.Load():
		w = new([WordsPerPage]uint64)
		if src != ZeroPFN {
			copyWords(w, f.frame(src))
		}
	case src == ZeroPFN:
		*w = [WordsPerPage]uint64{}
	default:
		copyWords(w, f.frame(src))
	}
	f.publish(p, w)
	c.anon[p&chunkMask].Store(0)
	f.ref(p).Store(1)
	f.inUse.Add(1)
	return p, nil
}

// copyWords copies src into d, which nobody else can reach, reading each
// word of src atomically.
func copyWords(d, src *[WordsPerPage]uint64) {
	for i := range d {
		d[i] = atomic.LoadUint64(&src[i])
	}
}

// SetAnon records that frame p is an anonymous page of the anon_vma with
// identity id (Linux folio_add_new_anon_rmap(), which points
// folio->mapping at the VMA's anon_vma), so that invariant checks can
// verify the reverse map. Alloc clears it. Safe for concurrent use; p
// must be allocated and not ZeroPFN.
func (f *Frames) SetAnon(p PFN, id uint64) {
	f.chunk(p).anon[p&chunkMask].Store(id)
}

// Anon returns the anon_vma identity SetAnon gave frame p since its last
// Alloc, or 0 if p is not an anonymous page. Safe for concurrent use.
func (f *Frames) Anon(p PFN) uint64 {
	if p == ZeroPFN {
		return 0
	}
	return f.chunk(p).anon[p&chunkMask].Load()
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
// the frame belongs to the next Alloc. The frame's storage is swapped for
// poisoned storage, so poisoning costs one atomic store: the shared
// read-only poison page when storage is recycled (no one writes a freed
// frame then), or a private poisoned copy with FreshStorage (a stale
// store may land in it).
func (f *Frames) release(p PFN) {
	c := f.chunk(p)
	if f.fresh.Load() {
		w := new([WordsPerPage]uint64)
		*w = poisonWords
		f.publish(p, w)
	} else {
		c.spare[p&chunkMask] = c.slots[p&chunkMask].words.Swap(&poisonWords)
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
