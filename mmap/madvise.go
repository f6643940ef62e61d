package mmap

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Madvise gives advice about [addr, addr+length), with the advice values
// Linux 6.18 accepts on the mappings vmsim has:
//
//   - MadvDontneed drops the pages (private anonymous memory reads back
//     as zeros; file and shared memory refault from the page cache);
//     MadvFree lets the kernel drop private anonymous pages lazily
//     (vmsim, having no memory pressure, keeps them, as Linux does until
//     reclaim) and is EINVAL on other mappings;
//   - MadvRandom, MadvSequential and MadvNormal set the VMA's readahead
//     flags, and MadvDontfork/MadvDofork, MadvDontdump/MadvDodump,
//     MadvWipeonfork/MadvKeeponfork and MadvHugepage/MadvNohugepage set
//     or clear their VM_* flag: like mprotect, these split and merge
//     VMAs; MadvWipeonfork is EINVAL on anything but private anonymous
//     memory; a split at the map-count limit is EAGAIN;
//   - MadvWillneed, MadvCold and MadvPageout are accepted and change
//     nothing vmsim models;
//   - MadvDontneed, MadvFree, MadvCold and MadvPageout are EINVAL on a
//     MapLocked (VM_LOCKED) mapping;
//   - MadvPopulateRead and MadvPopulateWrite prefault the range (see
//     populateAdvised).
//
// Other advice values are EINVAL, including those Linux accepts for
// features vmsim lacks (MADV_REMOVE, MADV_MERGEABLE, MADV_COLLAPSE,
// MADV_DONTNEED_LOCKED, MADV_GUARD_INSTALL, ...).
//
// Like Linux, the advice is applied to every mapped part of the range and
// ENOMEM is returned at the end if the range had holes (mm/madvise.c:
// do_madvise, madvise_walk_vmas); an error from one VMA stops the walk
// with the VMAs before it already advised. The populate advices instead
// stop at the first hole (madvise_populate).
func (as *AddressSpace) Madvise(addr, length uint64, advice Advice) error {
	return as.madviseTraced(addr, length, advice, as.sysTrack)
}

func (as *AddressSpace) madviseTraced(addr, length uint64, advice Advice, tb *trace.Buffer) error {
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "madvise", Addr: addr, Len: length,
			Arg: fmt.Sprintf("%#x, %#x, %d", addr, length, int(advice))})
	}
	err := as.doMadvise(addr, length, advice, tb)
	traceEnd(tb, "madvise", 0, err)
	return err
}

func validAdvice(a Advice) bool {
	switch a {
	case MadvNormal, MadvRandom, MadvSequential, MadvWillneed, MadvDontneed, MadvFree,
		MadvDontfork, MadvDofork, MadvHugepage, MadvNohugepage, MadvDontdump, MadvDodump,
		MadvWipeonfork, MadvKeeponfork, MadvCold, MadvPageout, MadvPopulateRead, MadvPopulateWrite:
		return true
	}
	return false
}

func (as *AddressSpace) doMadvise(start, lenIn uint64, advice Advice, tb *trace.Buffer) error {
	if !validAdvice(advice) {
		return EINVAL
	}
	if start&pgtable.PageMask != 0 {
		return EINVAL
	}
	length := pageAlign(lenIn)
	if lenIn != 0 && length == 0 {
		return EINVAL
	}
	end := start + length
	if end < start {
		return EINVAL
	}
	if end == start {
		return nil
	}
	if advice == MadvPopulateRead || advice == MadvPopulateWrite {
		// madvise_do_behavior(): populating is its own walk, under the
		// mmap read lock, which it drops to fault.
		return as.populateAdvised(start, end, advice == MadvPopulateWrite)
	}
	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return ErrClosed
	}
	c := as.beginLocked("madvise", tb)
	var unmapped error
	for start < end {
		v := c.tx.FindNext(start)
		if v == nil || v.Start >= end {
			unmapped = ENOMEM
			break
		}
		if start < v.Start {
			unmapped = ENOMEM
			start = v.Start
		}
		e := min(end, v.End)
		if err := c.madviseVMALocked(v, start, e, advice); err != nil {
			c.finishLocked()
			return err
		}
		start = e
	}
	c.finishLocked()
	if unmapped == nil {
		as.stats.madvises.Add(1) // successful calls only, as Stats says
	}
	return unmapped
}

// madviseVMALocked applies advice to [s, e) of v (mm/madvise.c:
// madvise_vma_behavior).
func (c *change) madviseVMALocked(v *vma.VMA, s, e uint64, advice Advice) error {
	switch advice {
	case MadvDontneed, MadvFree, MadvCold, MadvPageout:
		// madvise_dontneed_free_valid_vma(), and can_madv_lru_vma() in
		// madvise_cold() and madvise_pageout(): not on VM_LOCKED.
		if v.Flags&flagLocked != 0 {
			return EINVAL
		}
	}
	switch advice {
	case MadvDontneed:
		// madvise_dontneed_single_vma: zap the range. The VMA stays, so
		// faults on it simply refault: no detach is needed, and each PTE
		// is cleared under its lock.
		c.zapLocked(s, e)
		return nil
	case MadvFree:
		if v.Flags&vma.FlagAnonymous == 0 || v.Flags&vma.FlagShared != 0 {
			return EINVAL // madvise_free_single_vma: private anonymous only
		}
		return nil
	case MadvWillneed:
		return nil
	case MadvCold, MadvPageout:
		// madvise_cold(), madvise_pageout(): EINVAL for VM_LOCKED (above),
		// VM_PFNMAP or hugetlb VMAs, the last two of which vmsim does
		// not make; no LRU or swap to act on.
		return nil
	}
	flags, err := advisedFlags(v, advice)
	if err != nil {
		return err
	}
	if flags == v.Flags {
		return nil
	}
	_, err = c.modifyLocked(v, s, e, func(n *vma.VMA) { n.Flags = flags }, nil)
	if err == ENOMEM {
		// madvise_update_vma(): "madvise() returns EAGAIN if kernel
		// resources, such as slab, are temporarily unavailable" — and a
		// split at the map-count limit is reported so.
		err = EAGAIN
	}
	return err
}

// advisedFlags returns v's flags as a VMA-flag advice leaves them, or the
// advice's EINVAL (mm/madvise.c: madvise_vma_behavior(), the cases that
// end in madvise_update_vma(); mm/khugepaged.c: hugepage_madvise()).
func advisedFlags(v *vma.VMA, advice Advice) (vma.Flags, error) {
	flags := v.Flags
	switch advice {
	case MadvNormal:
		flags &^= vma.FlagSeqRead | vma.FlagRandRead
	case MadvSequential:
		flags = flags&^vma.FlagRandRead | vma.FlagSeqRead
	case MadvRandom:
		flags = flags&^vma.FlagSeqRead | vma.FlagRandRead
	case MadvDontfork:
		flags |= flagDontCopy
	case MadvDofork:
		flags &^= flagDontCopy // EINVAL only on VM_IO
	case MadvDontdump:
		flags |= flagDontDump
	case MadvDodump:
		flags &^= flagDontDump // EINVAL only on VM_SPECIAL or VM_DROPPABLE
	case MadvWipeonfork:
		// "if (vma->vm_file || new_flags & VM_SHARED) return -EINVAL":
		// a shared anonymous mapping has a shmem vm_file, and a shared
		// mapping of a read-only file has no VM_SHARED but a vm_file.
		if v.Flags&vma.FlagAnonymous == 0 || v.Flags&flagMayShare != 0 {
			return 0, EINVAL
		}
		flags |= flagWipeOnFork
	case MadvKeeponfork:
		flags &^= flagWipeOnFork // EINVAL only on VM_DROPPABLE
	case MadvHugepage:
		flags = flags&^flagNoHuge | flagHugepage
	case MadvNohugepage:
		flags = flags&^flagHugepage | flagNoHuge
	}
	return flags, nil
}
