package fault

import (
	"sync/atomic"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/rcu"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// MM is the part of an address space that the fault handler needs: Linux's
// struct mm_struct without the syscalls. Package mmap builds the syscalls,
// threads and TLBs on top of it.
//
// Lock order (outermost first):
//
//	mmap lock (MM.lock)
//	  per-VMA write marks (vma.VMA.WriteLock)
//	    page-table leaf locks (pgtable.Leaf), in address order
//	      frame-pool and page-cache locks
//
// RCU read-side sections nest inside anything and never block.
type MM struct {
	Frames *pgtable.Frames // immutable; the physical frames
	Table  *pgtable.Table  // immutable pointer; the page table (leaf locks inside)
	Tree   *vma.Tree       // immutable pointer; VMAs, published under RCU
	RCU    *rcu.Domain     // immutable; grace periods for freeing VMAs

	cfg Config // immutable after NewMM
	// s is cfg.Sched: nil when free-running. Immutable.
	s *sched.Sched

	// lock is the mmap lock (mmap_lock): read-held by faults under
	// PolicyMmapLock and by fallbacks, write-held by every syscall that
	// changes the tree.
	lock sched.RWMutex
	// lockSeq is mm_lock_seq: bumped by WriteUnlock, which releases every
	// per-VMA write mark of that write cycle at once. Atomic; written only
	// with lock write-held.
	lockSeq atomic.Uint64

	// owner is what the MM calls back into: the TLB shootdown and stack
	// growth of the address space that owns it. Set once by SetOwner
	// before any fault; a no-op owner until then.
	owner Owner

	// testVMALockRefused, set only by tests before any fault, runs in
	// faultPerVMA once a refused VMA read lock has left its RCU
	// read-side section: where a writer may free the VMA.
	testVMALockRefused func()

	// The page table, tree and RCU domain, kept in the MM so that
	// making one is one allocation; Table, Tree and RCU point here.
	table pgtable.Table
	tree  vma.Tree
	rcu   rcu.Domain
}

// An Owner is what an MM calls back into: the address space that owns it,
// whose threads have TLBs. Its methods are called by faulting goroutines,
// concurrently.
type Owner interface {
	// Shootdown flushes [start, end) from every thread's TLB and waits
	// for the accesses in flight (flush_tlb_mm_range): the handler calls
	// it after it replaces a PTE (copy-on-write).
	Shootdown(start, end uint64)
	// ExpandStack grows the VM_GROWSDOWN VMA above addr down to addr's
	// page, if the owner's limits allow it, and reports whether it did;
	// see MM.expandStack for when the handler calls it.
	ExpandStack(ctx *Context, addr uint64) bool
}

// noOwner is the Owner of an MM that has none: no TLBs, no stack growth.
type noOwner struct{}

func (noOwner) Shootdown(uint64, uint64)          {}
func (noOwner) ExpandStack(*Context, uint64) bool { return false }

// NewMM returns an MM with an empty tree and page table, drawing frames
// from frames.
func NewMM(frames *pgtable.Frames, cfg Config) *MM {
	mm := new(MM)
	mm.Init(frames, cfg)
	return mm
}

// Init makes mm, a zero MM (one embedded in another struct, say), the MM
// NewMM(frames, cfg) returns.
//
// Preconditions: mm is a zero MM and nothing else uses it yet.
func (mm *MM) Init(frames *pgtable.Frames, cfg Config) {
	if cfg.FaultAroundPages <= 0 {
		cfg.FaultAroundPages = 16
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 3
	}
	mm.Frames, mm.Table, mm.Tree, mm.RCU = frames, &mm.table, &mm.tree, &mm.rcu
	mm.tree.Init()
	mm.rcu.Init()
	mm.cfg, mm.s, mm.owner = cfg, cfg.Sched, noOwner{}
	mm.lock.Bind(mm.s, "mmap_lock")
	mm.Table.Bind(mm.s)
	mm.Tree.Bind(mm.s)
	mm.RCU.Bind(mm.s)
	// Every lookup here runs inside an RCU read-side section or under
	// the mmap lock, so the tree's replaced nodes can be reused a grace
	// period after the publish that replaced them.
	mm.Tree.RecycleNodes(mm.RCU)
}

// Config returns the configuration the MM was built with, defaults filled
// in. Safe for concurrent use.
func (mm *MM) Config() Config { return mm.cfg }

// Sched returns the Sched that controls the MM, or nil when it runs free.
func (mm *MM) Sched() *sched.Sched { return mm.s }

// SetOwner installs the address space the MM calls back into. Call it
// once, before the first fault.
func (mm *MM) SetOwner(o Owner) { mm.owner = o }

// ReadLock takes the mmap lock for reading (mmap_read_lock).
func (mm *MM) ReadLock() { mm.lock.RLock() }

// ReadUnlock releases a read hold of the mmap lock.
func (mm *MM) ReadUnlock() { mm.lock.RUnlock() }

// WriteLock takes the mmap lock for writing (mmap_write_lock).
func (mm *MM) WriteLock() { mm.lock.Lock() }

// WriteUnlock bumps mm_lock_seq, which releases every per-VMA write mark
// taken in this cycle, and releases the mmap lock (mmap_write_unlock,
// vma_end_write_all).
func (mm *MM) WriteUnlock() {
	mm.lockSeq.Add(1)
	mm.lock.Unlock()
}

// LockSeq returns mm_lock_seq: the value a writer passes to
// vma.VMA.WriteLock. Preconditions: the mmap lock is write-held (the value
// is stable only then).
func (mm *MM) LockSeq() uint64 { return mm.lockSeq.Load() }

// prepareAnon gives vf's VMA an anon_vma before its first private page
// is installed (mm/rmap.c: __anon_vma_prepare), reusing the next or else
// the previous neighbour's when it is compatible and alone on that
// neighbour's chain (mm/vma.c: find_mergeable_anon_vma(): "Try next
// first", and reusable_anon_vma()), as Linux does:
// that reuse is what lets two separately faulted VMAs merge later. The
// neighbours are read from the published tree inside an RCU read-side
// section (sections nest), so they cannot be freed under us; a race with
// a writer only changes which identity is picked, never correctness.
func (mm *MM) prepareAnon(vf *VMFault) { mm.prepareAnonVMA(vf.ctx, vf.VMA) }

func (mm *MM) prepareAnonVMA(ctx *Context, v *vma.VMA) {
	if v.AnonVMA() != 0 {
		return
	}
	r := ctx.Reader
	r.Lock()
	snap := mm.Tree.Snapshot()
	var a *vma.AnonVMA
	if n := snap.Find(v.End); n != nil && anonCompatible(v, n) {
		a = n.ReusableAnon()
	}
	if a == nil && v.Start > 0 {
		if p := snap.Find(v.Start - 1); p != nil && anonCompatible(p, v) {
			a = p.ReusableAnon()
		}
	}
	r.Unlock()
	if a == nil {
		a = vma.NewAnonVMA(mm.Frames.NewAnonID(), nil)
	}
	v.PrepareAnon(a)
}

// anonCompatible is mm/vma.c: anon_vma_compatible(a, b): a ends where b
// starts, same backing, the same flags (vmsim keeps the access bits apart,
// in Prot, so all of Flags must match) and contiguous page offsets.
func anonCompatible(a, b *vma.VMA) bool {
	return a.End == b.Start && a.Backing == b.Backing && a.Flags == b.Flags &&
		b.Pgoff == a.Pgoff+(b.Start-a.Start)>>pgtable.PageShift
}

// Context is what one simulated CPU brings to a fault: its RCU reader,
// its counters and its trace track. It is owned by one goroutine at a
// time.
type Context struct {
	Reader   *rcu.Reader
	Counters *Counters
	Trace    *trace.Buffer // nil: tracing off

	vf VMFault // the descriptor of the fault in progress (newFault)
	// broken is the contract the backing broke in the last fault that
	// ended in BackingBroken (see Broken).
	broken *ContractError
}

// abandon releases what a fault that is unwinding from a panic still
// holds: the lock or reference pinning its VMA, and its RCU read-side
// section (Handle is entered outside any section). A fault that has
// released its pin, or never took one, has nothing more to release.
func (ctx *Context) abandon() {
	ctx.vf.unpin()
	for ctx.Reader.InSection() {
		ctx.Reader.Unlock()
	}
}
