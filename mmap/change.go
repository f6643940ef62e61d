package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// A change is one syscall's edit of the address space, made under the
// mmap write lock: a transaction on the VMA tree, the PTEs it zapped, and
// the ranges whose translations every thread must drop before the frames
// are freed and the syscall returns.
//
// Every edit follows one order, whatever the policy:
//
//  1. write-mark the VMAs it will replace (PolicyPerVMALock waits for
//     their readers here: vma_start_write);
//  2. take them out of the private tree and detach them, so that a fault
//     that re-checks under the page-table lock installs nothing more in
//     them;
//  3. zap or change their PTEs under the page-table locks;
//  4. shoot down every thread's TLB for the range, waiting for accesses in
//     flight, and only then free the zapped frames;
//  5. publish the new tree with one atomic store.
//
// A fault that finds a detached VMA between 2 and 5 retries and then falls
// back to the mmap read lock, so it waits for 5 and never sees a gap.
type change struct {
	as   *AddressSpace // immutable (set by New, as is lock)
	tx   *vma.Txn
	seq  uint64 // mm_lock_seq of this write cycle
	lock bool   // PolicyPerVMALock: write-mark VMAs before changing them
	tb   *trace.Buffer

	zapped      []pgtable.PFN // frames to free after the shootdown
	flush       []span        // ranges to shoot down
	detachedAny bool          // the change has detached VMAs: it can no longer abort
	edited      bool          // the change has inserted or removed VMAs
	open        bool          // between beginLocked and finishLocked or abortLocked
	// panicked is the first panic of a backing's Open or Close that a
	// VMA of this address space handed over (absorbPanicLocked) since the
	// write lock was taken: writeUnlock raises it once the lock is
	// released.
	panicked *BackingPanic
}

type span struct{ start, end uint64 }

// beginLocked opens a change. There is one change per address space,
// reset here and reused by every syscall (the mmap write lock allows only
// one open at a time), so that opening one allocates nothing and its
// zapped and flush slices keep their capacity. The change is valid until
// the write lock is released. Preconditions: the mmap write lock is held.
func (as *AddressSpace) beginLocked(name string, tb *trace.Buffer) *change {
	as.frees.begin()
	c := &as.change
	// Field by field rather than *c = change{...}: that copies the
	// whole struct with a write barrier per pointer while the collector
	// marks, which this path does often; as and lock never change
	// (New sets them). Every other field is reset here.
	c.tx = as.mm.Tree.Begin()
	c.seq = as.mm.LockSeq()
	c.tb = tb
	c.zapped = c.zapped[:0]
	c.flush = c.flush[:0]
	c.detachedAny, c.edited = false, false
	c.open = true
	return c
}

// writeUnlock ends a syscall's hold of the mmap write lock. If the call
// is unwinding from a panic with its change still open, it ends the
// change first: aborted if it has detached nothing, else flushed and
// published as it stands (every step of a change leaves the tree whole,
// since backings' Open and Close cannot unwind through one). Then it
// releases the lock, and raises the panic of a backing that the change
// absorbed, so that the caller sees it with the address space whole.
func (as *AddressSpace) writeUnlock() {
	c := &as.change
	if c.open {
		c.flushLocked()
		if c.detachedAny {
			c.finishLocked()
		} else {
			c.abortLocked()
		}
	}
	p := c.panicked
	c.panicked = nil
	as.mm.WriteUnlock()
	if p != nil {
		panic(p)
	}
}

// absorbPanicLocked is the backing-panic func of every VMA made here (see
// vma.VMA.SetBackingPanic): it keeps the first panic for writeUnlock.
// Preconditions: the mmap write lock is held (VMAs are copied, sliced
// and discarded only by writers).
func (as *AddressSpace) absorbPanicLocked(p *BackingPanic) {
	if as.change.panicked == nil {
		as.change.panicked = p
	}
}

// markLocked write-marks v for this cycle (vma_start_write) under
// PolicyPerVMALock, waiting for its readers. Other policies need no mark:
// their readers re-check attachment instead.
func (c *change) markLocked(v *vma.VMA) {
	if c.lock {
		v.WriteLock(c.seq)
	}
}

// markRangeLocked write-marks every VMA overlapping [start, end).
func (c *change) markRangeLocked(start, end uint64) {
	if !c.lock {
		return
	}
	c.tx.Ascend(start, end, func(v *vma.VMA) bool {
		v.WriteLock(c.seq)
		return true
	})
}

// removeLocked takes v out of the tree (it is detached at the next
// detach or commit).
func (c *change) removeLocked(v *vma.VMA) {
	c.markLocked(v)
	c.tx.Remove(v)
	c.edited = true
}

// detachLocked detaches every VMA removed so far (Txn.Detach).
func (c *change) detachLocked() {
	if len(c.tx.Detach()) > 0 {
		c.detachedAny = true
	}
}

// unmapLocked removes [start, end) from the tree, splitting VMAs that
// straddle its edges, detaches what it removed, and zaps its PTEs (mm/vma.c:
// vms_gather_munmap_vmas + vms_clear_ptes). Frames are freed in
// finishLocked, after the shootdown.
func (c *change) unmapLocked(start, end uint64) []*vma.VMA {
	c.markRangeLocked(start, end)
	c.unlockRangeLocked(start, end)
	removed := c.tx.Unmap(start, end)
	if len(removed) == 0 {
		return nil
	}
	c.edited = true
	c.detachLocked()
	if c.as.cfg.Quirks.Has(QuirkNonAtomicFixedReplace) {
		// Linux before 6.12: the munmap half of a MAP_FIXED was visible
		// to lockless readers before the new VMA was inserted.
		c.tx.Publish()
		c.tracePublish("unmap published alone")
	}
	c.zapLocked(start, end)
	return removed
}

// zapLocked clears the PTEs of [start, end), keeping their frames for
// finishLocked. Preconditions: every VMA over the range is detached.
func (c *change) zapLocked(start, end uint64) {
	c.zapped = c.as.mm.Table.Zap(start, end, c.zapped)
	c.flush = append(c.flush, span{start, end})
	if c.tb != nil {
		c.tb.Emit(trace.Event{Kind: trace.Zap, Addr: start, Len: end - start})
	}
}

// protectLocked applies f to the PTEs of [start, end) and, when f may
// remove a permission, schedules a shootdown.
func (c *change) protectLocked(start, end uint64, f func(pgtable.PTE) pgtable.PTE, downgrade bool) {
	c.as.mm.Table.Protect(start, end, f)
	if downgrade {
		c.flush = append(c.flush, span{start, end})
	}
}

// insertLocked adds a new VMA (built by newVMA or sliced from one). Under
// PolicyPerVMALock it is write-marked first, so no fault can read-lock it
// before the syscall that made it returns (Linux 6.4: "mm: lock newly
// mapped VMA which can be modified after it becomes visible";
// __mmap_new_vma calls vma_start_write).
func (c *change) insertLocked(v *vma.VMA) {
	c.markLocked(v)
	c.tx.Insert(v)
	c.edited = true
}

// flushLocked shoots down the scheduled ranges and then frees the zapped
// frames (QuirkNoGracePeriod frees them first, which is the bug it shows).
func (c *change) flushLocked() {
	noGrace := c.as.cfg.Quirks.Has(QuirkNoGracePeriod)
	if noGrace {
		c.putFrames()
	}
	for _, s := range c.flush {
		c.as.shootdownTraced(s.start, s.end, c.tb)
	}
	c.flush = c.flush[:0]
	if !noGrace {
		c.putFrames()
	}
}

func (c *change) putFrames() {
	for _, p := range c.zapped {
		c.as.frames.Put(p)
	}
	c.zapped = c.zapped[:0]
}

// finishLocked flushes and publishes the change.
func (c *change) finishLocked() {
	c.flushLocked()
	c.open = false
	if !c.edited && !c.detachedAny {
		// Nothing to publish (munmap of a hole, Close of an empty
		// address space): readers keep the snapshot they have.
		c.tx.Abort()
		c.as.frees.end(c.as.mm.RCU)
		return
	}
	c.tx.Commit()
	c.as.frees.end(c.as.mm.RCU)
	c.tracePublish("")
}

// abortLocked abandons a change that has not detached anything: its
// VMAs built for insertion are discarded.
func (c *change) abortLocked(built ...*vma.VMA) {
	c.open = false
	c.tx.Abort()
	c.as.frees.end(c.as.mm.RCU)
	for _, v := range built {
		if v != nil {
			v.Discard()
		}
	}
}

func (c *change) tracePublish(why string) {
	if c.tb != nil {
		c.tb.Emit(trace.Event{Kind: trace.Publish, Value: c.as.mm.Tree.Snapshot().Version(), Arg: why})
	}
}

// newVMA builds an unattached VMA whose release frees it after a grace
// period. A panic of b.Open here unwinds (the caller's change has not
// changed anything yet); its copies hand theirs to absorbPanicLocked.
func (as *AddressSpace) newVMA(start, end uint64, prot Prot, flags vma.Flags, pgoff uint64, b vma.Backing) *vma.VMA {
	v := vma.New(start, end, vma.Prot(prot&protMask), flags, pgoff, b)
	as.adoptLocked(v)
	return v
}

// adoptLocked makes v, a VMA not yet inserted, one of this address
// space's: its release frees it here after a grace period, and a panic of
// its backing's Open or Close is absorbed here. The two funcs are bound on
// the first call rather than by New, so that an address space that maps
// nothing allocates no method values.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) adoptLocked(v *vma.VMA) {
	if as.release == nil {
		as.release, as.absorb = as.releaseVMA, as.absorbPanicLocked
	}
	v.SetRelease(as.release)
	v.SetBackingPanic(as.absorb)
}
