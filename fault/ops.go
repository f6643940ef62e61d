package fault

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/vma"
)

// Ops is the contract between the fault handler and what backs a mapping:
// Linux's vm_operations_struct. It embeds vma.Backing (Name, Open, Close)
// so that package vma can hold a backing without importing this package.
//
// Fault is the slow path. The handler calls it with a reference on
// vf.VMA held (or the VMA read-locked, or the mmap lock held, depending on
// the policy) and no RCU read-side section, so it may block: sleep for
// I/O, wait for another fault's I/O, take locks. On success it returns 0
// with vf.Page set to a frame carrying one reference that passes to the
// handler, which installs it (copying it first for a private write fault
// unless vf.Owned is set). It must be safe for concurrent use.
type Ops interface {
	vma.Backing
	Fault(vf *VMFault) Result
}

// PageMapper is the optional fast path, Linux's ->map_pages
// (filemap_map_pages). The handler calls MapPages for read faults only, as
// Linux's do_read_fault does (the read-only PTEs it maps could not serve a
// write), and possibly inside an RCU read-side section with NO reference
// on vf.VMA: the VMA may be detached at any moment, and MapPages must
// never block. It maps the pages of
// [start, end) (page offsets in the backing, inside vf.VMA and one
// page-table leaf) that it has at hand by calling vf.MapPage, which
// re-checks under the page-table lock that the VMA is still attached. It
// returns NoPage when the page at vf.Pgoff is now mapped, and Retry when
// mapping it would block (a page-cache miss), in which case the handler
// takes a reference and calls Fault. It must be safe for concurrent use.
type PageMapper interface {
	MapPages(vf *VMFault, start, end uint64) Result
}

// FrameCache is implemented by backings that keep pages of their own
// between faults, with a frame reference each — a file's page cache, a
// driver's buffers: CachedFrames returns those drawn from frames, so that
// the address space's Check can account for every frame in use (a
// backing that keeps pages without saying so makes Check report them as
// leaked). It must be safe for concurrent use; the result is a snapshot.
// File implements it.
type FrameCache interface {
	CachedFrames(frames *pgtable.Frames) []pgtable.PFN
}

// Result is a set of Linux VM_FAULT_* bits returned by Fault, MapPages and
// the handler. The zero value means success: the page in VMFault.Page is
// to be installed.
type Result uint32

// Fault results, as include/linux/mm_types.h vm_fault_reason.
const (
	// NoPage: the handler or the backing installed the PTE itself (or
	// found it installed by a racing fault); there is nothing to install.
	NoPage Result = 1 << iota
	// Retry: the fault did not complete (it would have blocked, or it lost
	// a race with a writer) and must be tried again.
	Retry
	// SIGSEGV: the access is not allowed; deliver SIGSEGV.
	SIGSEGV
	// SIGBUS: the page lies wholly beyond the end of the file (or the
	// backing failed); deliver SIGBUS with BUS_ADRERR.
	SIGBUS
	// OOM: no physical frame was available.
	OOM
	// Major: the fault did I/O (counted as pgmajfault).
	Major
)

// Error reports whether r stops the fault with an error (SIGSEGV, SIGBUS
// or OOM), the VM_FAULT_ERROR mask.
func (r Result) Error() bool { return r&(SIGSEGV|SIGBUS|OOM|broken) != 0 }

// Flags are the FAULT_FLAG_* bits describing one fault.
type Flags uint32

// Fault flags, as include/linux/mm_types.h fault_flag.
const (
	// FlagWrite: the access is a store (FAULT_FLAG_WRITE).
	FlagWrite Flags = 1 << iota
	// FlagExec: the access is an instruction fetch (FAULT_FLAG_INSTRUCTION).
	FlagExec
	// FlagAllowRetry: the backing may return Retry instead of blocking
	// (FAULT_FLAG_ALLOW_RETRY).
	FlagAllowRetry
	// FlagTried: this fault has been retried before (FAULT_FLAG_TRIED).
	FlagTried
	// FlagVMALock: the fault holds the VMA's per-VMA read lock rather than
	// the mmap lock (FAULT_FLAG_VMA_LOCK).
	FlagVMALock
	// FlagRCU: the fault runs inside an RCU read-side section without a
	// reference on the VMA (the fast path of PolicyRCURefcount).
	FlagRCU
)

// VMFault describes one fault: Linux's struct vm_fault. The handler owns
// it; a backing may read every field and set Page and Owned.
type VMFault struct {
	VMA     *vma.VMA    // the VMA the fault is in
	Address uint64      // page-aligned faulting address
	Pgoff   uint64      // page offset of Address in the backing
	Flags   Flags       // FAULT_FLAG_* bits
	Page    pgtable.PFN // out (Fault): the frame to install, with one reference
	Owned   bool        // out (Fault): Page belongs to this mapping alone (map it writable as is, no copy-on-write)

	mm  *MM      // the address space being faulted; set by the handler
	ctx *Context // the faulting CPU; set by the handler
	// backing is VMA.Backing, read while the VMA was pinned, for the
	// contract checks that run once it may be gone (broke). Set by the
	// handler.
	backing vma.Backing

	// pin is what holds VMA in place: the mmap read lock or the VMA
	// read lock, which ReleaseForIO may drop, or a VMA reference, which
	// it may not; pinNone for a fault under RCU with no reference.
	pin      pinKind
	released bool // ReleaseForIO released the pin
}

// pinKind says what a fault holds to keep its VMA in place.
type pinKind uint8

const (
	pinNone     pinKind = iota // nothing (RCU fast path, anonymous memory)
	pinMmapLock                // the mmap read lock
	pinVMALock                 // the VMA's read lock
	pinRef                     // a VMA reference (TryGet), never released for I/O
)

// ReleaseForIO lets a backing drop the lock the fault holds before it
// sleeps for I/O — the mmap read lock under PolicyMmapLock, the VMA read
// lock under PolicyPerVMALock — as Linux's maybe_unlock_mmap_for_io does,
// so that munmap and mmap need not wait for the disk. After it returns
// true the backing must not use vf.VMA again and must return Retry once
// the I/O is done; the handler then retries the fault with FlagTried. It
// returns false when the fault must keep what it holds: without
// FlagAllowRetry, after a retry (FlagTried), or on the slow path of
// PolicyRCURefcount, whose VMA reference never holds a writer back.
func (vf *VMFault) ReleaseForIO() bool {
	if vf.pin == pinNone || vf.pin == pinRef || vf.released || vf.Flags&FlagAllowRetry == 0 || vf.Flags&FlagTried != 0 {
		return false
	}
	vf.unpin()
	vf.ctx.Counters.ReleasedForIO.Add(1)
	return true
}

// unpin releases what the handler pinned the VMA with, unless that is
// already done.
func (vf *VMFault) unpin() {
	if vf.released {
		return
	}
	vf.released = true
	switch vf.pin {
	case pinMmapLock:
		vf.mm.lock.RUnlock()
	case pinVMALock:
		vf.VMA.ReadUnlock()
	case pinRef:
		vf.VMA.Put()
	}
}

// Write reports whether the fault is a store.
func (vf *VMFault) Write() bool { return vf.Flags&FlagWrite != 0 }

// Frames returns the physical-frame pool of the faulting address space;
// backings allocate their pages from it.
func (vf *VMFault) Frames() *pgtable.Frames { return vf.mm.Frames }

// Sched returns the Sched that controls the faulting address space, or nil
// when it runs free. A backing that blocks (sleeps for I/O, waits for
// another fault) must do it through the Sched (Sleep, Wait, a bound Mutex),
// so that a controlled run knows about the wait.
func (vf *VMFault) Sched() *sched.Sched { return vf.mm.s }
