package mmap

import (
	"fmt"
	"slices"
	"sync"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
)

// DefaultMemoryPages is the size of a Memory made with NewMemory(0), and
// of the private memory of an address space whose Config sets neither
// Memory nor PhysPages: 1<<20 frames, 4 GiB, allocated lazily.
const DefaultMemoryPages = 1 << 20

// A Memory is physical memory: the frames that address spaces allocate
// pages from, and the page caches of the files they map. Physical memory
// is the machine's, not one process's: every address space whose
// Config.Memory names the same Memory draws from the same frames, so two
// of them that map one file MAP_SHARED share its page-cache pages and see
// each other's stores, and a forked child always shares its parent's
// Memory. An address space made with a nil Config.Memory gets a Memory of
// its own.
//
// A file's page cache is bound to the Memory of the first address space
// that maps it; an address space on another Memory cannot map it (ENODEV)
// until every address space on the first one that mapped it is closed,
// which releases the cache.
//
// Concurrency: a Memory is safe for concurrent use by any number of
// address spaces and goroutines.
type Memory struct {
	frames *pgtable.Frames // immutable; points to store

	mu sync.Mutex
	// spaces are the address spaces open on this memory, in the order
	// they joined it: the order in which Check takes their mmap locks.
	// A closing address space leaves only once its deferred frees have
	// run. Protected by mu; the slice is replaced, never changed in
	// place, so a copy of it may be read after mu is released.
	spaces []*AddressSpace
	// files are the files whose page cache lives here, in the order
	// they were first mapped, each with the number of open address
	// spaces that have mapped it (opens of one file count as one file:
	// they share its cache); the last one to close releases the cache.
	// Protected by mu.
	files []*watchedFile
	// nextIno is the inode number last given to a file first mapped
	// here. Protected by mu.
	nextIno uint64
	// sched is the Sched of the address spaces open here (Config.Sched):
	// one at a time, since Check takes every address space's mmap lock
	// and an exploration closes every address space of its memories.
	// Protected by mu.
	sched *sched.Sched

	// first holds the first address space to join, so that a Memory of
	// one address space never allocates its list: spaces is first[:1]
	// until a second joins (the list is replaced, never changed in
	// place, so first is written once). Protected by mu.
	first [1]*AddressSpace
	// store is the frames, kept here so that a Memory is one allocation
	// (and the frames' index a second).
	store pgtable.Frames
}

// NewMemory returns physical memory of pages frames of 4 KiB (0 means
// DefaultMemoryPages), allocated lazily as they are first used.
func NewMemory(pages int) *Memory {
	if pages <= 0 {
		pages = DefaultMemoryPages
	}
	m := new(Memory)
	m.store.Init(pages, pgtable.FrameOptions{})
	m.frames = &m.store
	return m
}

// Pages returns the number of frames. Immutable; safe for concurrent use.
func (m *Memory) Pages() int { return m.frames.Capacity() }

// InUse returns the number of frames allocated now, by every address
// space on the memory and the page caches bound to it. Safe for
// concurrent use; the value may be stale by the time it is used.
func (m *Memory) InUse() int { return m.frames.InUse() }

// errOtherRun refuses an address space on a Memory that address spaces of
// another controlled run (or of none) are open on.
var errOtherRun = fmt.Errorf("mmap: Config.Memory has address spaces of another run open (make each schedule's Memory in its scenario): %w", EINVAL)

// join adds as to the memory's address spaces, unless address spaces of
// another Sched are open on it.
func (m *Memory) join(as *AddressSpace) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.spaces) > 0 && m.sched != as.cfg.Sched {
		return errOtherRun
	}
	m.sched = as.cfg.Sched
	if m.first[0] == nil {
		m.first[0] = as
		m.spaces = m.first[:]
	} else {
		m.spaces = append(slices.Clip(m.spaces), as)
	}
	return nil
}

// leave removes a closed address space.
func (m *Memory) leave(as *AddressSpace) {
	m.mu.Lock()
	if len(m.spaces) == 1 && m.spaces[0] == as {
		m.spaces = nil // the common case, a Memory of its own: no copy
	} else {
		m.spaces = slices.DeleteFunc(slices.Clone(m.spaces), func(x *AddressSpace) bool { return x == as })
	}
	m.mu.Unlock()
}

// AddressSpaces returns the address spaces open on m, in the order they
// joined it (a forked child after its parent). Safe for concurrent use;
// the result is a snapshot the caller owns.
func (m *Memory) AddressSpaces() []*AddressSpace { return slices.Clone(m.addressSpaces()) }

// addressSpaces returns the address spaces on the memory, in join order.
// The slice must not be modified.
func (m *Memory) addressSpaces() []*AddressSpace {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spaces
}

// A watchedFile is a file mapped by address spaces on a Memory.
type watchedFile struct {
	f     *fault.File // the first open of the file mapped here
	users int         // address spaces watching it, each once per open
}

// findLocked returns the index of f's file in m.files, or -1.
// Preconditions: m.mu is held.
func (m *Memory) findLocked(f *fault.File) int {
	return slices.IndexFunc(m.files, func(w *watchedFile) bool { return w.f.SameFile(f) })
}

// watch records that an address space on the memory maps f.
func (m *Memory) watch(f *fault.File) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.findLocked(f); i >= 0 {
		m.files[i].users++
		return
	}
	m.files = append(m.files, &watchedFile{f: f, users: 1})
	// Number the file's inode, if it has no number yet, in the order
	// files are first mapped here: /proc/pid/maps then reads the same in
	// every run of a program, whatever ran before it in the process.
	if f.NumberIno(m.nextIno+1) == m.nextIno+1 {
		m.nextIno++
	}
}

// unwatch records that an address space that mapped f has closed, and
// releases f's page cache if it was the last: nothing on this memory can
// map f's pages any more.
func (m *Memory) unwatch(f *fault.File) {
	m.mu.Lock()
	i := m.findLocked(f)
	m.files[i].users--
	last := m.files[i].users == 0
	if last {
		m.files = slices.Delete(m.files, i, i+1)
	}
	m.mu.Unlock()
	if last {
		f.ReleaseFrames(m.frames)
	}
}

// watchedFiles returns one open of each file whose page cache may live
// here.
func (m *Memory) watchedFiles() []*fault.File {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*fault.File, len(m.files))
	for i, w := range m.files {
		out[i] = w.f
	}
	return out
}
