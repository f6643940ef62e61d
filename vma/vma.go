package vma

import (
	"fmt"
	"sync/atomic"

	"github.com/vmsim/vmsim/sched"
)

// PageSize is the size of a page. VMA bounds are multiples of it.
const PageSize = 4096

// PageShift is log2(PageSize): a byte offset >> PageShift is a page offset.
const PageShift = 12

// AddrLimit is the exclusive upper bound of every VMA and of the gap index
// (1<<47, the x86-64 47-bit user address space; Linux's TASK_SIZE is one
// page below it).
const AddrLimit uint64 = 1 << 47

// Prot holds the Linux PROT_* bits of a mapping.
// A Prot is a plain value: safe for concurrent use.
type Prot uint32

// Protection bits, with their Linux values.
const (
	ProtNone  Prot = 0
	ProtRead  Prot = 1
	ProtWrite Prot = 2
	ProtExec  Prot = 4
)

// Flags holds the VM_* flags that matter to vmsim. Package vma only stores
// them (and shows FlagShared in String); their meaning is decided by the
// mmap package. A Flags is a plain value: safe for concurrent use.
type Flags uint32

// VMA flags, after include/linux/mm.h VM_*.
const (
	FlagShared    Flags = 1 << iota // VM_SHARED
	FlagMayWrite                    // VM_MAYWRITE (file opened for writing, or private)
	FlagGrowsDown                   // VM_GROWSDOWN
	FlagNoReserve                   // VM_NORESERVE
	FlagSeqRead                     // VM_SEQ_READ (MADV_SEQUENTIAL)
	FlagRandRead                    // VM_RAND_READ (MADV_RANDOM)
	FlagAnonymous                   // anonymous (no file), shared or private
)

// Backing is what a VMA maps (Linux: vm_ops + vm_file). Package fault
// defines the full contract and embeds this interface, so vma needs no
// import of fault.
//
// Package vma calls Open itself, exactly once per VMA object, when the
// object is built (New, Copy, Slice, and so the splits made by Txn.Unmap).
// It never calls Close: the owner does, from the VMA's release func, so
// that each object sees exactly one Open and one Close.
type Backing interface {
	// Name is the path shown in /proc/pid/maps ("" for anonymous memory).
	Name() string
	// Open is called when a new VMA object starts referring to the
	// backing (mmap, split, copy) — Linux vm_ops->open. It is called by
	// the goroutine building the VMA (the writer), before the VMA is
	// published.
	Open(v *VMA)
	// Close is called exactly once per VMA object, after its last
	// reference has dropped and a grace period has passed — Linux
	// vm_ops->close / remove_vma.
	Close(v *VMA)
}

// A VMA is one virtual memory area: a page-aligned range [Start, End) with
// one protection, one set of flags and one backing (Linux: struct
// vm_area_struct).
//
// Concurrency: VMAs are immutable once published. The exported fields are
// written only by the goroutine that builds the VMA, before Txn.Insert;
// after the Txn that inserted it publishes, any goroutine inside an RCU
// read-side section (or holding the writer lock) may read them without a
// lock. A change to a mapping builds new VMA objects and detaches the old
// ones. The reference count and the per-VMA lock state are atomic; every
// method on them is safe for concurrent use.
//
// Lifecycle: New/Copy/Slice build an unattached VMA (refcount 0). The Txn
// that publishes it attaches it (refcount 1). The Txn that removes it
// detaches it (the attach reference is dropped); when the last user Puts,
// or at the detach if there is none, its release func runs, once. The
// owner's release func waits for a grace period, calls Backing.Close and
// Poison, after which any use of the VMA panics.
type VMA struct {
	Start, End uint64  // [Start, End), page-aligned; immutable once published
	Prot       Prot    // immutable once published
	Flags      Flags   // immutable once published
	Pgoff      uint64  // page offset of Start in the backing; immutable once published
	Backing    Backing // nil for private anonymous memory; immutable once published
	Private    any     // the owner's per-VMA data; immutable once published

	// ref is the reference count in the form of Linux 6.15 vm_refcnt,
	// plus refDetached (see refcount.go); atomic.
	ref atomic.Uint32
	// lockSeq is vm_lock_seq: the mmap lock sequence of the write cycle
	// that write-locked this VMA (see lock.go); atomic.
	lockSeq atomic.Uint64
	// release runs once when the detached VMA's count reaches 0. Set by
	// the writer before insertion; read by whoever drops the last
	// reference, ordered by the publish and the atomic count.
	release func(*VMA)
	// released guards against running release twice; atomic.
	released atomic.Bool
	// backingPanic, if set, receives a panic raised by Backing.Open when
	// a copy of v is built (Copy, Slice) and by Backing.Close in
	// Discard, in place of letting it unwind. Set by the writer before
	// insertion (SetBackingPanic) and inherited by copies; immutable
	// once published.
	backingPanic func(*BackingPanic)
	// anon is the VMA's anon_vma and anon_vma_chain, nil until the
	// first fault that gives it private pages (anon_vma_prepare) or a
	// fork from a VMA that has one (anon_vma_fork); the value pointed to
	// is immutable. Atomic, since faults set it on a published VMA. See
	// anon.go.
	anon atomic.Pointer[anonState]
	// poisoned is set by Poison; atomic so that use-after-free checks are
	// themselves race-free.
	poisoned atomic.Bool
	// state is the VMA's place in its Tree's writer transactions
	// (stateNew, stateInserted, ...); protected by the Tree's writer lock.
	state vmaState
	// sched is the Sched of the tree v was inserted in (nil when
	// free-running): its lock steps are scheduling points and a writer's
	// wait for its readers is a wait the Sched knows about. Set by
	// Txn.Insert, before v is published; immutable after.
	sched *sched.Sched
}

// vmaState is the writer's view of a VMA's life; see Txn.
type vmaState uint8

const (
	stateNew      vmaState = iota // built, never inserted (or inserted by an aborted Txn)
	stateInserted                 // inserted by the open Txn, not yet attached
	stateAttached                 // attached (visible in a published snapshot)
	stateRemoved                  // removed by the open Txn, not yet detached
	stateDetached                 // detached; it may never be inserted again
)

// lockSeqNone is the initial lockSeq: it never equals an mmap lock
// sequence, as Linux's vma_lock_init sets vm_lock_seq = UINT_MAX.
const lockSeqNone = ^uint64(0)

// New returns an unattached VMA covering [start, end) and calls b.Open on
// it if b is non-nil. It is not shared with anyone yet, so the caller may
// set Private or SetRelease before inserting it.
//
// start and end must be page-aligned with start < end <= AddrLimit; New
// panics otherwise (a programmer error: the mmap package validates user
// input first).
func New(start, end uint64, prot Prot, flags Flags, pgoff uint64, b Backing) *VMA {
	checkRange(start, end)
	v := &VMA{Start: start, End: end, Prot: prot, Flags: flags, Pgoff: pgoff, Backing: b}
	v.lockSeq.Store(lockSeqNone)
	if b != nil {
		b.Open(v)
	}
	return v
}

func checkRange(start, end uint64) {
	if start >= end || end > AddrLimit || start%PageSize != 0 || end%PageSize != 0 {
		panic(fmt.Sprintf("vma: bad range [%#x, %#x)", start, end))
	}
}

// Copy returns a new unattached VMA with the same fields, Private,
// release func and backing-panic func as v (but a fresh reference count
// and lock state), and calls Backing.Open on it — Linux vm_area_dup. The caller may change
// Start, End, Pgoff, Prot, Flags or Private before inserting it; it must
// not change Backing (Open has been called on this one; build a VMA for
// another backing with New). Copy only reads v: safe for concurrent use
// while v is published.
func (v *VMA) Copy() *VMA {
	v.checkLive()
	c := &VMA{Start: v.Start, End: v.End, Prot: v.Prot, Flags: v.Flags, Pgoff: v.Pgoff,
		Backing: v.Backing, Private: v.Private, release: v.release, backingPanic: v.backingPanic}
	c.lockSeq.Store(lockSeqNone)
	c.anon.Store(v.anon.Load()) // anon_vma_clone
	c.openBacking()
	return c
}

// Slice returns a new unattached copy of v covering [start, end), a
// page-aligned subrange of [v.Start, v.End), with Pgoff adjusted to
// v.PgoffAt(start) — one half of Linux's __split_vma, which also calls
// vm_ops->open on the new VMA. Like Copy, it inherits v's release and
// backing-panic funcs. It panics if [start, end) is not such a
// subrange. Safe for concurrent use while v is published.
func (v *VMA) Slice(start, end uint64) *VMA {
	v.checkLive()
	checkRange(start, end)
	if start < v.Start || end > v.End {
		panic(fmt.Sprintf("vma: Slice [%#x, %#x) outside %v", start, end, v))
	}
	c := &VMA{Start: start, End: end, Prot: v.Prot, Flags: v.Flags, Pgoff: v.PgoffAt(start),
		Backing: v.Backing, Private: v.Private, release: v.release, backingPanic: v.backingPanic}
	c.lockSeq.Store(lockSeqNone)
	c.anon.Store(v.anon.Load()) // anon_vma_clone
	c.openBacking()
	return c
}

// Len returns End - Start in bytes. Safe for concurrent use.
func (v *VMA) Len() uint64 {
	v.checkLive()
	return v.End - v.Start
}

// Contains reports whether addr lies in [Start, End). Safe for concurrent
// use.
func (v *VMA) Contains(addr uint64) bool {
	v.checkLive()
	return v.Start <= addr && addr < v.End
}

// PgoffAt returns the page offset in the backing of the page holding addr:
// Pgoff + (addr-Start)>>PageShift (Linux linear_page_index). addr should
// lie in the VMA. Safe for concurrent use.
func (v *VMA) PgoffAt(addr uint64) uint64 {
	v.checkLive()
	return v.Pgoff + (addr-v.Start)>>PageShift
}

// String formats v as the first two columns of /proc/pid/maps,
// "7f0000000000-7f0000002000 rw-p", or "vma(freed)" once poisoned. It never
// panics, so it is safe in panic messages. Safe for concurrent use.
func (v *VMA) String() string {
	if v == nil {
		return "vma(nil)"
	}
	if v.poisoned.Load() {
		return "vma(freed)"
	}
	perm := []byte("---p")
	if v.Prot&ProtRead != 0 {
		perm[0] = 'r'
	}
	if v.Prot&ProtWrite != 0 {
		perm[1] = 'w'
	}
	if v.Prot&ProtExec != 0 {
		perm[2] = 'x'
	}
	if v.Flags&FlagShared != 0 {
		perm[3] = 's'
	}
	return fmt.Sprintf("%08x-%08x %s", v.Start, v.End, perm)
}
