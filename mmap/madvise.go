package mmap

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Madvise gives advice about [addr, addr+length). MadvDontneed drops the
// pages (private anonymous memory reads back as zeros; file and shared
// memory refault from the page cache); MadvFree lets the kernel drop
// private anonymous pages lazily (vmsim, having no memory pressure, keeps
// them, as Linux does until reclaim); MadvRandom, MadvSequential and
// MadvNormal set the VMA's readahead flags (splitting and merging VMAs);
// MadvWillneed is accepted. Other advice values are EINVAL.
//
// Like Linux, the advice is applied to every mapped part of the range and
// ENOMEM is returned at the end if the range had holes (mm/madvise.c:
// do_madvise, madvise_walk_vmas).
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
	case MadvNormal, MadvRandom, MadvSequential, MadvWillneed, MadvDontneed, MadvFree:
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
	as.mm.WriteLock()
	defer as.mm.WriteUnlock()
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
	as.stats.madvises.Add(1)
	return unmapped
}

// madviseVMALocked applies advice to [s, e) of v (mm/madvise.c:
// madvise_vma_behavior).
func (c *change) madviseVMALocked(v *vma.VMA, s, e uint64, advice Advice) error {
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
	}
	flags := v.Flags &^ (vma.FlagSeqRead | vma.FlagRandRead)
	switch advice {
	case MadvSequential:
		flags |= vma.FlagSeqRead
	case MadvRandom:
		flags |= vma.FlagRandRead
	}
	if flags == v.Flags {
		return nil
	}
	_, err := c.modifyLocked(v, s, e, func(n *vma.VMA) { n.Flags = flags }, nil)
	if err == ENOMEM {
		// madvise_update_vma(): "madvise() returns EAGAIN if kernel
		// resources, such as slab, are temporarily unavailable" — and a
		// split at the map-count limit is reported so.
		err = EAGAIN
	}
	return err
}
