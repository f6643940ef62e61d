package mmap

import (
	"errors"
	"sync"

	"github.com/vmsim/vmsim/rcu"
	"github.com/vmsim/vmsim/vma"
)

// releaseVMA runs when a detached VMA's last reference drops: after a
// grace period (so no RCU reader can still be looking at it) the backing
// is told and the VMA is poisoned (mm/vma.c: remove_vma → vm_area_free,
// which Linux defers with call_rcu for the same reason). The wait is
// vmaFrees'; the free itself is freeVMA.
func (as *AddressSpace) releaseVMA(v *vma.VMA) {
	if as.cfg.Quirks.Has(QuirkNoGracePeriod) {
		// The backing is told at once; the VMA is still poisoned only
		// after a grace period: a reader that still uses it would panic
		// and take the process down; the early frame frees in
		// flushLocked are what this quirk shows.
		as.closeBacking(v)
	}
	as.frees.call(as.mm.RCU, v)
}

// freeVMA ends a released VMA's life, after its grace period: its
// backing is told (unless QuirkNoGracePeriod told it at the release) and
// it is poisoned.
func (as *AddressSpace) freeVMA(v *vma.VMA) {
	if !as.cfg.Quirks.Has(QuirkNoGracePeriod) {
		as.closeBacking(v)
	}
	v.Poison()
	as.stats.vmasFreed.Add(1)
}

// closeBacking tells v's backing that v is gone (vm_ops->close) and, when
// v was the last VMA of shared anonymous memory, frees that memory's
// pages: it is reachable only through its VMAs, so its pages would
// otherwise stay in use forever, in no page cache the address space knows
// (Linux evicts the shmem inode with its last reference, and
// shmem_evict_inode truncates its pages).
//
// A panic of the backing's Close is kept for Check and Close to report:
// this runs on the RCU callback goroutine (or in whoever dropped the last
// reference), where no caller could receive it.
func (as *AddressSpace) closeBacking(v *vma.VMA) {
	b := v.Backing
	if b == nil {
		return
	}
	if p := v.CloseBacking(); p != nil {
		as.closePanics.add(p)
	}
	if f, ok := b.(*File); ok && v.Flags&vma.FlagAnonymous != 0 && f.MapCount() == 0 {
		f.ReleaseFrames(as.frames)
	}
}

// backingPanics collects the panics of backings' Close. Safe for
// concurrent use.
type backingPanics struct {
	mu   sync.Mutex
	list []error // protected by mu
}

func (b *backingPanics) add(p *BackingPanic) {
	b.mu.Lock()
	b.list = append(b.list, p)
	b.mu.Unlock()
}

// take returns the panics collected since the last take, joined, or nil.
func (b *backingPanics) take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := errors.Join(b.list...)
	b.list = nil
	return err
}

// vmaFrees starts the grace period of a released VMA only once no
// published snapshot can hold it. A change detaches VMAs before it zaps
// and publishes (steps 2 and 5 of its order), and a VMA with no users is
// released at the detach itself: a grace period begun then would not wait
// for a reader that enters its read-side section afterwards and still
// loads the snapshot holding the VMA, which would then be poisoned under
// that reader. So while a change is open its frees are queued, and they
// are handed to RCU after its Commit (or Abort). Linux has the same
// order: the VMA leaves the maple tree before remove_vma's call_rcu.
//
// The VMAs a change releases go to RCU as one batch, one callback that
// frees them all in release order. Linux queues a call_rcu per VMA
// (vm_area_free); one callback per batch is how its mmu_gather frees page
// tables (tlb_remove_table_rcu), and it saves a callback per VMA. A VMA
// released with no change open (by a fault's last Put) is a batch
// of one. Batches are recycled through a sync.Pool once their callback
// has run, so that the steady state allocates nothing and the callback
// goroutine, which returns them by the hundred, never contends with the
// writer for mu.
//
// Concurrency: safe for concurrent use; begin and end are called by the
// writer (mmap write lock held), call by whoever drops a VMA's last
// reference, and a batch's callback runs on the RCU callback goroutine.
type vmaFrees struct {
	// freer ends each VMA's life: the address space (its freeVMA).
	// Immutable after New.
	freer vmaFreer

	mu   sync.Mutex
	open bool      // a change is open; protected by mu
	cur  *vmaBatch // the open change's frees, nil if none yet; protected by mu
}

// A vmaFreer ends released VMAs' lives: an *AddressSpace (freeVMA).
type vmaFreer interface{ freeVMA(v *vma.VMA) }

// A vmaBatch is VMAs to free after one grace period. Until it is handed
// to RCU its vmas are protected by its vmaFrees' mu; afterwards they
// belong to its callback, which empties them and puts the batch back in
// the pool.
type vmaBatch struct {
	f    *vmaFrees  // the owner while the batch is in use; nil in the pool
	vmas []*vma.VMA // see above
	run  func()     // b.runFrees, bound once; immutable
}

// vmaBatches holds empty batches for reuse by every address space. One
// pool for all, not one per address space: a pool keeps what it holds
// until the second garbage collection after, and batches that pointed at
// their address space would keep thousands of closed ones alive (an
// exploration makes one per schedule). Safe for concurrent use.
var vmaBatches sync.Pool

// newBatch makes a batch for the pool.
func newBatch() any {
	b := new(vmaBatch)
	b.run = b.runFrees
	return b
}

func init() { vmaBatches.New = newBatch }

// batch returns an empty batch owned by f.
func (f *vmaFrees) batch() *vmaBatch {
	b := vmaBatches.Get().(*vmaBatch)
	b.f = f
	return b
}

// runFrees is a batch's RCU callback: it frees the batch's VMAs, in the
// order they were released, and recycles the batch.
func (b *vmaBatch) runFrees() {
	for i, v := range b.vmas {
		b.f.freer.freeVMA(v)
		b.vmas[i] = nil
	}
	b.vmas = b.vmas[:0]
	b.f = nil
	vmaBatches.Put(b)
}

// begin marks a change open: frees are queued until end.
func (f *vmaFrees) begin() {
	f.mu.Lock()
	f.open = true
	f.mu.Unlock()
}

// end marks the change closed, its detached VMAs unpublished, and starts
// the grace period of the frees it queued.
func (f *vmaFrees) end(d *rcu.Domain) {
	f.mu.Lock()
	b := f.cur
	f.cur, f.open = nil, false
	f.mu.Unlock()
	if b != nil {
		d.Call(b.run)
	}
}

// call frees v after a grace period that begins once v is unpublished:
// now if no change is open (the change that detached it has published),
// else at that change's end.
func (f *vmaFrees) call(d *rcu.Domain, v *vma.VMA) {
	f.mu.Lock()
	if f.open {
		if f.cur == nil {
			f.cur = f.batch()
		}
		f.cur.vmas = append(f.cur.vmas, v)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	b := f.batch()
	b.vmas = append(b.vmas, v)
	d.Call(b.run)
}
