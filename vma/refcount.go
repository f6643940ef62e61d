package vma

import "fmt"

// The reference count has the layout of Linux 6.15's vm_refcnt
// (include/linux/mm_types.h), plus one bit of vmsim's own:
//
//	0                      detached, no users (or never attached)
//	1                      attached, no users (the tree's attach reference)
//	1+n                    attached, n users (TryGet / TryReadLock)
//	refWriter | ...        a per-VMA-lock writer waits for readers to leave
//	refDetached | n        detached, n users still hold references
//
// Linux has no refDetached: vma_mark_detached waits for readers to leave
// (they only hold vm_refcnt briefly, under the per-VMA lock). Under
// Wilcox's RCU policy a slow-path fault holds its reference across a
// sleep, and a detach must not wait for it, so the count records "detached,
// n users left" and the last Put runs the release func.
const (
	refMask     uint32 = 1<<30 - 1 // the count: attach reference + users
	refWriter   uint32 = 1 << 30   // VMA_LOCK_OFFSET: a writer waits for readers
	refDetached uint32 = 1 << 31   // detached while users remained
)

// Attached reports whether v is attached: visible in its tree's published
// snapshot (or about to be, within a publish) and not yet detached by the
// Txn that removed it. A fault must check, under the page-table lock, that
// the VMA is still attached before installing a PTE (a writer detaches
// before it zaps). Atomic; safe for concurrent use.
func (v *VMA) Attached() bool {
	v.checkLive()
	r := v.ref.Load()
	return r&refMask != 0 && r&refDetached == 0
}

// TryGet takes a reference on v; it fails if v is detached. While a
// reference is held v is not released (and so not freed), even if it is
// detached meanwhile. This is the reference of Wilcox's RCU policy: take it
// inside the RCU read-side section that found v, then leave the section
// and sleep; a failure means v was removed, so look up again. Unlike
// TryReadLock it ignores the per-VMA lock, so a concurrent WriteLock waits
// for the reference to be dropped. Drop it with Put. Atomic; safe for
// concurrent use; never blocks.
func (v *VMA) TryGet() bool {
	v.checkLive()
	for {
		r := v.ref.Load()
		if r&refMask == 0 || r&refDetached != 0 {
			return false
		}
		if r&refMask == refMask-1 {
			panic("vma: reference count overflow")
		}
		if v.ref.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// Put drops a reference taken by TryGet or TryReadLock. If v has been
// detached and this was its last reference, Put runs v's release func (in
// the calling goroutine). Atomic; safe for concurrent use.
func (v *VMA) Put() {
	v.checkLive()
	r := v.ref.Add(^uint32(0))
	if (r+1)&refMask <= 1 { // the count was 1 (now 0) or 0 (underflow)
		v.putSlow(r)
	}
}

// putSlow handles a Put that took the count to 0, or below: kept out of
// Put so that Put stays small.
func (v *VMA) putSlow(r uint32) {
	old := r + 1
	if old&refMask == 0 {
		panic(fmt.Sprintf("vma: Put without a reference on %v", v))
	}
	if r&refDetached == 0 {
		panic(fmt.Sprintf("vma: Put dropped the attach reference of %v", v))
	}
	// Detached and no users: nobody can take a reference any more
	// (TryGet refuses a zero count), so a plain store is enough.
	v.ref.Store(0)
	v.runRelease()
}

// SetRelease sets the function that runs once when v is detached and its
// last reference has gone (at the detach itself when no user holds one).
// The owner uses it to free v after a grace period: rcu Call, then
// Backing.Close, then Poison. It may run in any goroutine that drops a
// reference, or in the writer's Txn.Detach/Publish/Commit, so it must not
// block. Copy and Slice inherit it.
//
// Preconditions: v is not yet inserted (only the builder holds it).
func (v *VMA) SetRelease(f func(*VMA)) {
	v.checkLive()
	if v.state != stateNew {
		panic(fmt.Sprintf("vma: SetRelease on inserted %v", v))
	}
	v.release = f
}

// Refs returns the number of users: references taken by TryGet or
// TryReadLock and not yet dropped, excluding the tree's attach reference.
// The value may be stale by the time it is used: for tests and invariant
// checks. Atomic; safe for concurrent use.
func (v *VMA) Refs() int {
	v.checkLive()
	r := v.ref.Load()
	n := int(r & refMask)
	if r&refDetached == 0 && n > 0 {
		n-- // the attach reference
	}
	return n
}

// attach gives v its attach reference (Linux vma_mark_attached).
//
// Preconditions: the caller holds the tree's writer lock; v is inserted
// and has never been attached.
func (v *VMA) attach() {
	if !v.ref.CompareAndSwap(0, 1) {
		panic(fmt.Sprintf("vma: attach of %v with refcount %#x", v, v.ref.Load()))
	}
	v.state = stateAttached
}

// detach drops the attach reference (Linux vma_mark_detached, without its
// wait for readers: see refDetached). If no user holds a reference, the
// release func runs now; otherwise the last Put runs it. A VMA that was
// inserted and removed within one unpublished Txn was never attached; it
// is detached all the same, and released at once.
//
// Preconditions: the caller holds the tree's writer lock, and no
// WriteLock is in progress on v (only the writer would run one).
func (v *VMA) detach() {
	v.state = stateDetached
	for {
		r := v.ref.Load()
		if r&refDetached != 0 || r&refWriter != 0 {
			panic(fmt.Sprintf("vma: detach of %v with refcount %#x", v, r))
		}
		if r == 0 {
			// Never attached: nobody can have seen it.
			v.runRelease()
			return
		}
		n := r - 1
		if n != 0 {
			n |= refDetached
		}
		if v.ref.CompareAndSwap(r, n) {
			if n == 0 {
				v.runRelease()
			}
			return
		}
	}
}

// runRelease runs the release func; the counting guarantees that only one
// goroutine gets here, and released checks it.
func (v *VMA) runRelease() {
	if v.released.Swap(true) {
		panic(fmt.Sprintf("vma: %v released twice", v))
	}
	if f := v.release; f != nil {
		f(v)
	}
}
