package vma

import "time"

// The per-VMA lock of Linux 6.4+ (include/linux/mmap_lock.h,
// mm/mmap_lock.c), in its 6.15 form that shares the reference count:
//
//   - The mmap lock carries a sequence number, mm_lock_seq, which the
//     owner (package mmap) changes at every mmap write cycle.
//   - A writer, holding the mmap write lock, write-locks each VMA it is
//     about to change by storing the current sequence in the VMA's
//     lockSeq, after waiting for the VMA's readers to leave.
//   - A reader takes the read lock without the mmap lock: it raises the
//     count (refusing if the VMA is detached or a writer waits) and then
//     fails if the VMA's lockSeq equals the current sequence.
//   - mmap_write_unlock changes the sequence: every mark is released at
//     once, without touching the VMAs.

// TryReadLock takes the per-VMA read lock on v (Linux vma_start_read): an
// increment-not-zero of the count that refuses when v is detached or a
// writer waits for readers; then, if v is write-locked in the current
// write cycle (lockSeq == mmLockSeq), it undoes the increment and fails.
// mmLockSeq is the mmap lock sequence the caller read. A failure means
// "fall back to the mmap lock". On success the caller holds a reference
// and must call ReadUnlock. Atomic; safe for concurrent use; never blocks.
func (v *VMA) TryReadLock(mmLockSeq uint64) bool {
	v.checkLive()
	// The early check of vma_start_read: a VMA write-locked in this cycle
	// fails without touching the shared count.
	v.sched.Point("vma.read_lock")
	if v.lockSeq.Load() == mmLockSeq {
		return false
	}
	for {
		r := v.ref.Load()
		if r&refMask == 0 || r&(refDetached|refWriter) != 0 {
			return false
		}
		if r&refMask == refMask-1 {
			panic("vma: reference count overflow")
		}
		if v.ref.CompareAndSwap(r, r+1) {
			break
		}
	}
	// The count is raised, so a writer that now starts waits for us;
	// one that had already stored lockSeq is seen here.
	v.sched.Point("vma.read_lock.recheck")
	if v.lockSeq.Load() == mmLockSeq {
		v.Put()
		return false
	}
	return true
}

// ReadUnlock releases the per-VMA read lock (Linux vma_end_read); it is
// Put. Atomic; safe for concurrent use.
func (v *VMA) ReadUnlock() {
	v.sched.Point("vma.read_unlock")
	v.Put()
}

// WriteLock write-locks v for the write cycle mmLockSeq (Linux
// vma_start_write / __vma_enter_locked): it sets the writer bit so new
// readers fail, waits until every existing reader has left (spinning
// briefly, then yielding, then sleeping for short periods), stores
// lockSeq = mmLockSeq so that readers keep failing until the sequence
// changes, and clears the writer bit. It is idempotent within one cycle.
// A detached or never-attached VMA has no readers to wait for.
//
// References taken with TryGet (the RCU policy) are waited for too, and
// they may be held across a sleep: use WriteLock only under the per-VMA
// lock policy.
//
// Preconditions: the caller holds the mmap write lock (so it is the only
// writer of v's lock state), and mmLockSeq is its current sequence.
func (v *VMA) WriteLock(mmLockSeq uint64) {
	v.checkLive()
	if v.lockSeq.Load() == mmLockSeq {
		return
	}
	v.sched.Point("vma.write_lock")
	for {
		r := v.ref.Load()
		if r&refMask == 0 || r&refDetached != 0 {
			// Not attached: nothing to wait for (__vma_enter_locked
			// returns false when refcount_add_not_zero fails).
			v.lockSeq.Store(mmLockSeq)
			return
		}
		if r&refWriter != 0 {
			panic("vma: concurrent WriteLock")
		}
		if v.ref.CompareAndSwap(r, r|refWriter) {
			break
		}
	}
	v.waitReaders()
	// As __vma_start_write: lockSeq is stored while the writer bit still
	// keeps new readers out, so none can slip in between.
	v.lockSeq.Store(mmLockSeq)
	v.ref.Add(^(refWriter - 1)) // subtract refWriter
}

// waitReaders waits until only the attach reference is left, as
// rcuwait_wait_event(refcount == VMA_LOCK_OFFSET + 1). Kept out of
// WriteLock: it is the slow path. Readers of the per-VMA lock hold it
// briefly, so free-running it spins first (sched.Spin), sleeping at most
// a millisecond at a time.
func (v *VMA) waitReaders() {
	const target = refWriter | 1
	if v.ref.Load() == target {
		return
	}
	v.sched.Spin("vma.write_lock.wait", time.Millisecond, func() bool { return v.ref.Load() == target })
}

// WriteLocked reports whether v is write-locked in the write cycle
// mmLockSeq (Linux __is_vma_write_locked). Atomic; safe for concurrent
// use.
func (v *VMA) WriteLocked(mmLockSeq uint64) bool {
	v.checkLive()
	return v.lockSeq.Load() == mmLockSeq
}
