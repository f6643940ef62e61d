package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// MAP_LOCKED: a mapping whose pages are locked in memory (VM_LOCKED,
// smaps "lo"), as Linux 6.18 makes it. vmsim has no reclaim, so locking
// changes no page's fate; what it changes is what a program can observe:
//
//   - mmap checks can_do_mlock() (EPERM) and mlock_future_ok() against
//     RLIMIT_MEMLOCK (EAGAIN) right after placement (mm/mmap.c:
//     do_mmap()), and populates the mapping after the call whatever
//     MAP_NONBLOCK says ("(vm_flags & VM_LOCKED) || (flags &
//     (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE");
//   - VM_LOCKED is a VMA flag like the others, so a locked VMA merges
//     only with locked neighbours, and mprotect, madvise and splits
//     keep it; mprotect populates a locked private VMA that becomes
//     writable (mm/mprotect.c: mprotect_fixup());
//   - mremap checks the growth of a locked VMA against the limit
//     (check_prep_vma() → remap_is_valid(): EAGAIN), counts it, and
//     populates the grown part (do_mremap() → mm_populate());
//     MREMAP_DONTUNMAP clears VM_LOCKED on the old VMA
//     (dontunmap_complete());
//   - madvise DONTNEED, FREE, COLD and PAGEOUT are EINVAL on a locked
//     VMA (mm/madvise.c: madvise_dontneed_free_valid_vma(),
//     can_madv_lru_vma());
//   - a locked stack grows only within the limit (acct_stack_growth()).
//
// mlock(2), munlock(2), mlockall(2) and MADV_DONTNEED_LOCKED are not
// simulated.

// flagLocked is VM_LOCKED. It takes part in merging.
const flagLocked vma.Flags = 1 << 24

// MemlockNone is a Config.MemlockLimit standing for an RLIMIT_MEMLOCK of
// 0 in a process without CAP_IPC_LOCK: MapLocked fails with EPERM.
const MemlockNone int64 = -1

// canDoMlock mirrors mm/mlock.c: can_do_mlock(): a non-zero
// RLIMIT_MEMLOCK, or CAP_IPC_LOCK (a MemlockLimit of 0).
func (as *AddressSpace) canDoMlock() bool { return as.cfg.MemlockLimit >= 0 }

// mlockFutureOKLocked mirrors mm/mmap.c: mlock_future_ok(): whether
// bytes more locked memory stay within RLIMIT_MEMLOCK. Only VM_LOCKED
// memory is checked, and nothing is with CAP_IPC_LOCK.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mlockFutureOKLocked(flags vma.Flags, bytes uint64) bool {
	if flags&flagLocked == 0 || as.cfg.MemlockLimit == 0 {
		return true
	}
	limit := uint64(max(as.cfg.MemlockLimit, 0)) >> pgtable.PageShift
	return as.lockedPages+bytes>>pgtable.PageShift <= limit
}

// lockLocked adds bytes of a VMA with flags to mm->locked_vm if it is
// VM_LOCKED. Preconditions: the mmap write lock is held.
func (as *AddressSpace) lockLocked(flags vma.Flags, bytes uint64) {
	if flags&flagLocked != 0 {
		as.lockedPages += bytes >> pgtable.PageShift
	}
}

// unlockRangeLocked subtracts from mm->locked_vm the VM_LOCKED pages in
// [start, end), which the caller is about to unmap (mm/vma.c:
// vms_gather_munmap_vmas() counts them, vms_complete_munmap_vmas()
// subtracts them).
//
// Preconditions: the mmap write lock is held and c is open.
func (c *change) unlockRangeLocked(start, end uint64) {
	if c.as.lockedPages == 0 {
		return // nothing is locked: spare munmap the walk
	}
	c.tx.Ascend(start, end, func(v *vma.VMA) bool {
		if v.Flags&flagLocked != 0 {
			c.as.lockedPages -= (min(v.End, end) - max(v.Start, start)) >> pgtable.PageShift
		}
		return true
	})
}

// lockedBytes returns mm->locked_vm in bytes (/proc/pid/status VmLck).
func (as *AddressSpace) lockedBytes() uint64 {
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	return as.lockedPages << pgtable.PageShift
}
