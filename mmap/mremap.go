package mmap

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

const mremapFlagMask = MremapMaymove | MremapFixed | MremapDontunmap

// Mremap resizes and/or moves the mapping at [oldAddr, oldAddr+oldLen):
// shrinking in place, growing in place when the space after it is free,
// otherwise moving it (MremapMaymove) to a new address or to newAddr
// (MremapFixed, replacing what is there); MremapDontunmap leaves the old
// range mapped but empty. Moved pages keep their contents: their PTEs are
// moved, not copied. It mirrors mm/mremap.c (Linux 6.18): check_mremap_params,
// check_prep_vma, mremap_at, mremap_to and move_vma, with their errnos.
func (as *AddressSpace) Mremap(oldAddr, oldLen, newLen uint64, flags MremapFlag, newAddr uint64) (uint64, error) {
	return as.mremapTraced(oldAddr, oldLen, newLen, flags, newAddr, as.sysTrack)
}

func (as *AddressSpace) mremapTraced(oldAddr, oldLen, newLen uint64, flags MremapFlag, newAddr uint64, tb *trace.Buffer) (uint64, error) {
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "mremap", Addr: oldAddr, Len: oldLen,
			Arg: fmt.Sprintf("%#x, %#x, %#x, %d, %#x", oldAddr, oldLen, newLen, flags, newAddr)})
	}
	got, err := as.doMremap(oldAddr, oldLen, newLen, flags, newAddr, tb)
	traceEnd(tb, "mremap", got, err)
	return got, err
}

// remap is one mremap call's parameters (struct vma_remap_struct).
type remap struct {
	addr, oldLen, newLen, newAddr uint64
	flags                         MremapFlag
}

func (r *remap) impliesNewAddr() bool { return r.flags&(MremapFixed|MremapDontunmap) != 0 }

// checkParams mirrors check_mremap_params.
func (r *remap) checkParams() Errno {
	if r.flags&^mremapFlagMask != 0 || r.addr&pgtable.PageMask != 0 {
		return EINVAL
	}
	if r.newLen == 0 || r.newLen > TaskSize {
		return EINVAL
	}
	if !r.impliesNewAddr() {
		return 0
	}
	if r.newAddr > TaskSize-r.newLen || r.newAddr&pgtable.PageMask != 0 {
		return EINVAL
	}
	if r.flags&MremapMaymove == 0 {
		return EINVAL
	}
	if r.flags&MremapDontunmap != 0 && r.oldLen != r.newLen {
		return EINVAL
	}
	// The target must not overlap the source.
	if r.addr < r.newAddr+r.newLen && r.newAddr < r.addr+r.oldLen {
		return EINVAL
	}
	return 0
}

func (as *AddressSpace) doMremap(addr, oldLenIn, newLenIn uint64, flags MremapFlag, newAddr uint64, tb *trace.Buffer) (uint64, error) {
	r := remap{addr: addr, oldLen: pageAlign(oldLenIn), newLen: pageAlign(newLenIn), newAddr: newAddr, flags: flags}
	if oldLenIn > 0 && r.oldLen == 0 {
		r.oldLen = oldLenIn // PAGE_ALIGN overflowed: keep it huge so it fails below
	}
	if errno := r.checkParams(); errno != 0 {
		return 0, errno
	}
	as.mm.WriteLock()
	defer as.mm.WriteUnlock()
	if as.closed.Load() {
		return 0, ErrClosed
	}
	c := as.beginLocked("mremap", tb)
	got, errno := c.mremapLocked(&r)
	if errno != 0 {
		if c.touched() {
			c.finishLocked()
		} else {
			c.abortLocked()
		}
		return 0, errno
	}
	c.finishLocked()
	as.stats.mremaps.Add(1)
	return got, nil
}

// touched reports whether the change has detached or scheduled anything,
// so that it must be committed rather than aborted.
func (c *change) touched() bool { return c.detachedAny || len(c.flush) > 0 }

func (c *change) mremapLocked(r *remap) (uint64, Errno) {
	v := c.tx.Find(r.addr)
	if v == nil {
		return 0, EFAULT
	}
	if errno := c.checkPrepLocked(r, v); errno != 0 {
		return 0, errno
	}
	if r.impliesNewAddr() {
		return c.mremapToLocked(r)
	}
	switch {
	case r.newLen == r.oldLen:
		return r.addr, 0
	case r.newLen < r.oldLen:
		// Shrinking can always be done in place.
		c.unmapLocked(r.addr+r.newLen, r.addr+r.oldLen)
		return r.addr, 0
	}
	// expand_vma: in place if the range ends at the VMA's end and the
	// space after it is free.
	if v.End-r.addr == r.oldLen && c.expandableLocked(v, r.newLen-r.oldLen) {
		n := v.Copy()
		n.End = v.End + (r.newLen - r.oldLen)
		c.removeLocked(v)
		c.detachLocked()
		c.insertMergedLocked(n)
		return r.addr, 0
	}
	if r.flags&MremapMaymove == 0 {
		return 0, ENOMEM
	}
	return c.moveLocked(r, v)
}

// checkPrepLocked mirrors check_prep_vma.
func (c *change) checkPrepLocked(r *remap, v *vma.VMA) Errno {
	if !r.impliesNewAddr() {
		r.newAddr = r.addr
	}
	if r.newLen <= r.oldLen && !r.impliesNewAddr() {
		return 0 // shrinking or no change: nothing new is mapped
	}
	if r.oldLen == 0 && v.Flags&flagMayShare == 0 {
		return EINVAL // duplicating a private mapping makes no sense
	}
	if r.oldLen > v.End-r.addr {
		return EFAULT // can't remap across VMA boundaries
	}
	if r.newLen == r.oldLen {
		return 0
	}
	pgoff := v.Pgoff + (r.addr-v.Start)>>pgtable.PageShift
	if pgoff+r.newLen>>pgtable.PageShift < pgoff {
		return EINVAL
	}
	return 0
}

// expandableLocked mirrors vma_expandable: the delta after v is free and
// [v.Start, v.End+delta) would be a valid MAP_FIXED range.
func (c *change) expandableLocked(v *vma.VMA, delta uint64) bool {
	end := v.End + delta
	if end < v.End || overlaps(c.tx, v.End, end) {
		return false
	}
	return end <= TaskSize && v.Start >= c.as.cfg.MinAddr
}

// mremapToLocked mirrors mremap_to: MREMAP_FIXED unmaps the target first;
// a shrink happens before the move.
func (c *change) mremapToLocked(r *remap) (uint64, Errno) {
	if r.flags&MremapFixed != 0 {
		if splitsOverLimit(c.tx, r.newAddr, r.newAddr+r.newLen, c.as.cfg.MaxMapCount) {
			return 0, ENOMEM
		}
		c.unmapLocked(r.newAddr, r.newAddr+r.newLen)
		c.flushLocked()
	}
	v := c.tx.Find(r.addr)
	if v == nil {
		return 0, EFAULT
	}
	if r.newLen < r.oldLen {
		c.unmapLocked(r.addr+r.newLen, r.addr+r.oldLen)
		r.oldLen = r.newLen
		v = c.tx.Find(r.addr)
	}
	return c.moveLocked(r, v)
}

// moveLocked mirrors move_vma: a new VMA at the destination (merged with
// its neighbours there) takes over the PTEs of the source range, which is
// then unmapped, or left mapped and empty with MremapDontunmap.
func (c *change) moveLocked(r *remap, v *vma.VMA) (uint64, Errno) {
	as := c.as
	// move_vma: leave room for do_munmap splitting one VMA into three.
	if c.tx.Len() >= as.cfg.MaxMapCount-3 {
		return 0, ENOMEM
	}
	dst := r.newAddr
	if r.flags&MremapFixed == 0 {
		mf := MapPrivate
		if v.Flags&flagMayShare != 0 {
			mf = MapShared
		}
		var f Backing
		if v.Flags&vma.FlagAnonymous == 0 {
			f, _ = v.Backing.(Backing)
		}
		a, errno := as.getUnmappedAreaLocked(c.tx, f, r.newAddr, r.newLen, mf)
		if errno != 0 {
			return 0, errno
		}
		dst = a
	}
	src, srcEnd := r.addr, r.addr+r.oldLen

	// copy_vma: the moved VMA keeps its page offset, except that an
	// anonymous VMA never faulted (no anon_vma) is placed as if new.
	n := v.Slice(src, srcEnd)
	n.Start, n.End = dst, dst+r.newLen
	if v.Flags&vma.FlagAnonymous != 0 && v.Flags&vma.FlagShared == 0 && v.AnonVMA() == 0 {
		n.Pgoff = dst >> pgtable.PageShift
	}

	// Detach the source so no fault installs into it while its PTEs move.
	c.markRangeLocked(src, srcEnd)
	c.tx.Unmap(src, srcEnd)
	c.detachLocked()
	as.mm.Table.Move(src, r.oldLen, dst)
	c.flush = append(c.flush, span{src, srcEnd})
	if r.flags&MremapDontunmap != 0 {
		// The source stays mapped, with no pages.
		c.insertLocked(v.Slice(src, srcEnd))
	}
	c.flushLocked()
	c.insertMergedLocked(n)
	return dst, 0
}
