package mmap

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Config parameterises an AddressSpace. Its zero value is a Linux x86-64
// process without ASLR under PolicyRCURefcount. New refuses a Config with
// a field out of its documented range, with one error per such field
// (each wrapping EINVAL). A Config is a plain value.
type Config struct {
	// Policy is the fault path's locking design.
	Policy Policy
	// MmapBase is where top-down placement starts (mm->mmap_base); 0
	// means TaskSize - 128 MiB, the base of a process without ASLR.
	MmapBase uint64
	// MinAddr is vm.mmap_min_addr: MAP_FIXED below it is EPERM and hints
	// below it are raised to it; 0 means 65536. It must be page-aligned
	// and below MmapBase.
	MinAddr uint64
	// MaxMapCount is vm.max_map_count; 0 means 65530.
	MaxMapCount int
	// StackLimit is RLIMIT_STACK in bytes: a fault just below a
	// MAP_GROWSDOWN VMA grows it only while it stays this small
	// (acct_stack_growth()); 0 means DefaultStackLimit, Linux's 8 MiB.
	StackLimit uint64
	// MemlockLimit is RLIMIT_MEMLOCK in bytes, for MapLocked: the pages
	// of all VM_LOCKED mappings together (mm->locked_vm) may not exceed
	// it, rounded down to pages (mm/mmap.c: mlock_future_ok()). 0 means
	// unlimited, as for a process with CAP_IPC_LOCK (root, as tests
	// often run). MemlockNone (-1) is a limit of 0 without CAP_IPC_LOCK:
	// MapLocked then fails with EPERM (mm/mlock.c: can_do_mlock()).
	// Other negative values are invalid.
	MemlockLimit int64
	// FaultAroundPages is the MapPages window in pages, rounded down to a
	// power of two; 0 means 16, 1 disables fault-around; at most
	// MaxFaultAroundPages.
	FaultAroundPages int
	// Memory is the physical memory the address space allocates from,
	// shared with every other address space on it; nil means a Memory
	// of its own, of PhysPages frames. The address spaces open on one
	// Memory must share their Sched (all free-running, or all of one
	// controlled run): New refuses another with EINVAL.
	Memory *Memory
	// PhysPages is the number of physical frames of the address space's
	// own Memory when Memory is nil; 0 means DefaultMemoryPages (4 GiB,
	// allocated lazily); at most MaxPhysPages. With a Memory, Config
	// reports its size.
	PhysPages int
	// TLBEntries is the size of each thread's TLB, rounded up to a power
	// of two; 0 means 64; at most MaxTLBEntries.
	TLBEntries int
	// MaxRetries bounds lockless fault attempts before the mmap-lock
	// fallback; 0 means 3.
	MaxRetries int
	// Quirks deliberately break rules; see QuirkNonAtomicFixedReplace and
	// the others. Zero breaks nothing; bits of no quirk are invalid.
	Quirks Quirks
	// Trace, if non-nil, records syscalls, faults, TLB shootdowns and
	// every load and store.
	Trace *trace.Recorder
	// Sched, if non-nil, controls every lock, wait and scheduling point
	// of the address space and of the files it maps (see package sched):
	// only the Sched's threads may then use it, one step at a time.
	// Package explore sets it (Env.New); nil, the default, is
	// free-running.
	Sched *sched.Sched
}

// Upper bounds of Config fields.
const (
	// MaxPhysPages is the largest Config.PhysPages: a frame number is 32
	// bits, and frame 0 is the zero page.
	MaxPhysPages = int(^pgtable.PFN(0)) - 1
	// MaxTLBEntries is the largest Config.TLBEntries (a real CPU's
	// second-level TLB has a few thousand).
	MaxTLBEntries = 1 << 16
	// MaxFaultAroundPages is the largest Config.FaultAroundPages: one
	// page-table leaf, as Linux's fault_around_bytes (mm/memory.c:
	// fault_around_bytes_set() refuses more than PTRS_PER_PTE pages).
	MaxFaultAroundPages = pgtable.PTEsPerLeaf
)

// validate returns one error per field of c that New refuses, joined,
// each naming the field and wrapping EINVAL; nil if every field is valid.
// It checks the values as given, before defaults are filled in.
func (c *Config) validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mmap: Config.%s %s: %w", field, fmt.Sprintf(format, args...), EINVAL))
	}
	if c.Policy < PolicyRCURefcount || c.Policy > PolicyPerVMALock {
		bad("Policy", "%d is not a known policy", int(c.Policy))
	}
	if c.MmapBase&pgtable.PageMask != 0 || c.MmapBase > TaskSize {
		bad("MmapBase", "%#x is not a page-aligned user address", c.MmapBase)
	}
	if c.MinAddr&pgtable.PageMask != 0 || c.MinAddr > TaskSize {
		bad("MinAddr", "%#x is not a page-aligned user address", c.MinAddr)
	}
	if c.MaxMapCount < 0 {
		bad("MaxMapCount", "%d is negative", c.MaxMapCount)
	}
	if c.MemlockLimit < MemlockNone {
		bad("MemlockLimit", "%d is negative and not MemlockNone (-1)", c.MemlockLimit)
	}
	if c.FaultAroundPages < 0 || c.FaultAroundPages > MaxFaultAroundPages {
		bad("FaultAroundPages", "%d is not in 0..%d", c.FaultAroundPages, MaxFaultAroundPages)
	}
	if c.PhysPages < 0 || c.PhysPages > MaxPhysPages {
		bad("PhysPages", "%d is not in 0..%d", c.PhysPages, MaxPhysPages)
	}
	if c.TLBEntries < 0 || c.TLBEntries > MaxTLBEntries {
		bad("TLBEntries", "%d is not in 0..%d", c.TLBEntries, MaxTLBEntries)
	}
	if c.MaxRetries < 0 {
		bad("MaxRetries", "%d is negative", c.MaxRetries)
	}
	if u := c.Quirks.Unknown(); u != 0 {
		bad("Quirks", "has unknown bits %#x", uint32(u))
	}
	if len(errs) == 0 {
		mmapBase, minAddr := c.MmapBase, c.MinAddr
		if mmapBase == 0 {
			mmapBase = TaskSize - 128<<20
		}
		if minAddr == 0 {
			minAddr = 65536
		}
		if minAddr >= mmapBase {
			bad("MinAddr", "%#x is not below MmapBase %#x", minAddr, mmapBase)
		}
	}
	return errors.Join(errs...)
}

// fill validates c and fills in its defaults.
func (c *Config) fill() error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.MmapBase == 0 {
		c.MmapBase = TaskSize - 128<<20
	}
	if c.MinAddr == 0 {
		c.MinAddr = 65536
	}
	if c.MaxMapCount == 0 {
		c.MaxMapCount = 65530
	}
	if c.StackLimit == 0 {
		c.StackLimit = DefaultStackLimit
	}
	if c.FaultAroundPages == 0 {
		c.FaultAroundPages = 16
	}
	for c.FaultAroundPages&(c.FaultAroundPages-1) != 0 {
		c.FaultAroundPages &= c.FaultAroundPages - 1
	}
	if c.Memory != nil {
		c.PhysPages = c.Memory.Pages()
	}
	if c.PhysPages == 0 {
		c.PhysPages = DefaultMemoryPages
	}
	if c.TLBEntries == 0 {
		c.TLBEntries = 64
	}
	n := 1
	for n < c.TLBEntries {
		n <<= 1
	}
	c.TLBEntries = n
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	return nil
}

// ErrClosed is returned by every call on an AddressSpace after Close.
var ErrClosed = errors.New("mmap: address space is closed")

// An AddressSpace is a simulated process address space: a VMA tree, a page
// table, physical frames, and the threads that access them. All its
// methods are safe for concurrent use; the syscalls (Mmap, Munmap,
// Mprotect, Mremap, Madvise) serialise on the mmap lock, as Linux's do,
// while faults run concurrently with them under the configured Policy.
type AddressSpace struct {
	cfg    Config          // immutable, defaults filled in
	mm     *fault.MM       // immutable pointer
	mem    *Memory         // immutable; == cfg.Memory
	frames *pgtable.Frames // immutable pointer; == mm.Frames == mem.frames

	threads threadSet

	rec      *trace.Recorder // immutable; nil when tracing is off
	sysTrack *trace.Buffer   // shared track for syscalls made on the AddressSpace

	// closed is set by Close, under the mmap write lock, before it waits
	// for the faults in flight; atomic so that threads can see it
	// without the lock. A fault checks it after counting itself in
	// inflight (see beginFault).
	closed atomic.Bool
	// closeMu serialises Close, so that every call returns after the
	// teardown. Only Close takes it, and it is held across Close's wait
	// for faults in flight; nothing else is taken while waiting for it.
	// Bound to Config.Sched.
	closeMu sched.Mutex
	// files are the files mapped here, in the order first mapped, each
	// with the cancel of its truncate hook; each is also watched by mem.
	// Protected by the mmap write lock.
	files []mappedFile

	// inflight counts faults in progress, so that Check knows when frame
	// accounting can be exact. Atomic.
	inflight atomic.Int64
	// faultsBegun counts faults ever begun, bumped right after inflight,
	// so that Check can tell that no fault began and ended while it
	// counted frames (inflight alone reads 0 before and after). Atomic.
	faultsBegun atomic.Int64
	stats       asCounters

	// frees holds the frees of VMAs detached by the open change until
	// it publishes; see vmaFrees.
	frees vmaFrees
	// change is the state of the syscall's change in progress, reused
	// by each (see beginLocked). Protected by the mmap write lock.
	change change
	// lockedPages is mm->locked_vm: pages of VM_LOCKED mappings, added
	// when one is made or grows and subtracted when one is unmapped,
	// with Linux's quirks (mremap MREMAP_DONTUNMAP adds the new range
	// and keeps the old one's count). Protected by the mmap write lock.
	lockedPages uint64
	// release is as.releaseVMA, the release func of every VMA made here,
	// and absorb is as.absorbPanicLocked, bound once (by adoptLocked, when the
	// first VMA is made) so that making a VMA does not allocate method
	// values. Protected by the mmap write lock; immutable once set.
	release func(*vma.VMA)
	absorb  func(*BackingPanic)
	// closePanics holds the panics raised by backings' Close after a
	// grace period (closeBacking), for Check and Close to report.
	closePanics backingPanics

	// mmStore is the MM that mm points to, kept here so that making an
	// address space is one allocation.
	mmStore fault.MM
}

// New returns an empty address space configured by cfg, or an error if
// cfg is inconsistent.
func New(cfg Config) (*AddressSpace, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if cfg.Memory == nil {
		cfg.Memory = NewMemory(cfg.PhysPages)
	}
	frames := cfg.Memory.frames
	// Quirks that let threads touch frames after they are freed need
	// fresh storage per frame life, so those stale accesses are visible
	// (poison, or the next owner's data) and never a Go data race.
	if cfg.Quirks&(QuirkNoShootdown|QuirkNoGracePeriod|QuirkNoDetachCheck) != 0 {
		frames.SetFreshStorage()
	}
	as := &AddressSpace{cfg: cfg, mem: cfg.Memory, frames: frames, rec: cfg.Trace}
	as.mm = &as.mmStore
	as.mm.Init(frames, fault.Config{
		Policy:           cfg.Policy,
		Quirks:           cfg.Quirks,
		FaultAroundPages: cfg.FaultAroundPages,
		MaxRetries:       cfg.MaxRetries,
		Sched:            cfg.Sched,
	})
	if as.rec != nil {
		as.sysTrack = as.rec.SharedTrack("syscalls")
	}
	as.change = change{as: as, lock: cfg.Policy == PolicyPerVMALock}
	as.closeMu.Bind(cfg.Sched, "close")
	as.frees.freer = as
	as.mm.SetOwner((*mmOwner)(as))
	if err := as.mem.join(as); err != nil {
		return nil, err
	}
	return as, nil
}

// Config returns the configuration in force, defaults filled in.
func (as *AddressSpace) Config() Config { return as.cfg }

// Close unmaps everything, waits for every deferred free, and returns
// every physical frame it held to its Memory, with the page caches of the
// files it mapped that no other open address space on the Memory has
// mapped. It is safe while threads run: from its start every syscall,
// and every fault that has not begun, returns ErrClosed; Close then waits
// for the faults in flight (a slow-path fault may sleep in a page-cache
// miss while it holds a VMA reference) before it tears anything down, so
// that none of them can touch what it frees. Accesses of threads still
// open return ErrClosed afterwards (they may still be closed with
// Thread.Close). Close is idempotent, and every call returns once the
// teardown is done. It returns the panics of backings' Close that Check
// has not reported (see Backing), and nil otherwise.
func (as *AddressSpace) Close() error {
	as.closeMu.Lock()
	defer as.closeMu.Unlock()
	as.mm.WriteLock()
	if as.closed.Load() {
		as.mm.WriteUnlock()
		return nil
	}
	as.closed.Store(true)
	as.mm.WriteUnlock()
	as.waitFaultsDrained()

	as.mm.WriteLock()
	c := as.beginLocked("close", nil)
	c.unmapLocked(0, TaskSize)
	c.finishLocked()
	as.mm.Table.FreeEmpty(0, TaskSize)
	for _, mf := range as.files {
		mf.cancel()
		as.mem.unwatch(mf.f)
	}
	as.files = nil
	as.writeUnlock()
	// The threads left open are ended: every translation they had is
	// shot down, their faults return ErrClosed, and Stats no longer
	// counts them.
	for _, t := range as.threads.all() {
		as.retire(t)
	}
	as.mm.RCU.Barrier()
	as.mm.RCU.Close()
	as.mem.leave(as)
	return as.closePanics.take()
}

// beginFault counts a fault in flight, or reports false if the address
// space is closed. The count comes first and the check second, and Close
// sets closed before it reads the count (both sequentially consistent
// atomics), so either Close waits for this fault or the fault sees
// closed: none slips past Close's wait.
func (as *AddressSpace) beginFault() bool {
	as.inflight.Add(1)
	if as.closed.Load() {
		as.endFault()
		return false
	}
	as.faultsBegun.Add(1)
	return true
}

// endFault ends a fault counted by beginFault.
func (as *AddressSpace) endFault() { as.inflight.Add(-1) }

// waitFaultsDrained waits until no fault is in flight: free-running, a
// spin that sleeps up to a millisecond at a time (a fault in flight at
// Close may be sleeping in a page-cache miss); controlled, a wait the
// Sched knows about. Preconditions: closed is set, so no fault begins any
// more (beginFault), and the caller holds no lock a fault may need.
func (as *AddressSpace) waitFaultsDrained() {
	if as.inflight.Load() == 0 {
		return
	}
	as.cfg.Sched.Spin("mmap.close.drain", time.Millisecond, func() bool { return as.inflight.Load() == 0 })
}

// Mapping describes one VMA, as a line of /proc/pid/maps does.
type Mapping struct {
	Start, End uint64
	Prot       Prot
	Shared     bool   // MAP_SHARED (VM_MAYSHARE): the 's' of /proc/pid/maps
	Offset     uint64 // byte offset in the file (0 for anonymous memory)
	Name       string // file name, "" for private anonymous memory
}

// Len returns End - Start.
func (m Mapping) Len() uint64 { return m.End - m.Start }

func mappingOf(v *vma.VMA) Mapping {
	// Shared is VM_MAYSHARE, the 's' of /proc/pid/maps: a MAP_SHARED
	// mapping of a read-only file is shared though not VM_SHARED
	// (fs/proc/task_mmu.c: show_map_vma()).
	m := Mapping{Start: v.Start, End: v.End, Prot: Prot(v.Prot), Shared: v.Flags&flagMayShare != 0}
	if v.Backing != nil {
		m.Name = v.Backing.Name()
		m.Offset = v.Pgoff << pgtable.PageShift
	}
	return m
}

// Mappings returns one Mapping per VMA, sorted by address. It takes the
// mmap read lock, so it sees the layout between two syscalls.
func (as *AddressSpace) Mappings() []Mapping {
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	vs := as.mm.Tree.Snapshot().VMAs()
	out := make([]Mapping, len(vs))
	for i, v := range vs {
		out[i] = mappingOf(v)
	}
	return out
}

// MapCount returns the number of VMAs (mm->map_count).
func (as *AddressSpace) MapCount() int {
	return as.mm.Tree.Snapshot().Len()
}
