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
// moved, not copied. An old length of 0 duplicates a shared mapping. A
// same-size MremapFixed move may span several VMAs, keeping the holes
// between them (Linux 6.17+). It mirrors mm/mremap.c (Linux 6.18):
// do_mremap, check_mremap_params, check_prep_vma, remap_move, mremap_at,
// mremap_to and move_vma, with their errnos.
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

	// mlocked is vrm->mlocked: the resized or moved VMA is VM_LOCKED,
	// so its growth is populated after the call; prot and private are
	// that VMA's, for populating it.
	mlocked bool
	prot    Prot
	private bool
}

func (r *remap) impliesNewAddr() bool { return r.flags&(MremapFixed|MremapDontunmap) != 0 }

// willMapNew is vrm_will_map_new(): the call grows or moves the mapping.
func (r *remap) willMapNew() bool { return r.newLen > r.oldLen || r.impliesNewAddr() }

// checkParams mirrors check_mremap_params, except its last check (the map
// count), which needs the mmap lock: see mremapLocked.
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
	// vrm_overlaps(): the target must not overlap the source.
	if r.addr+r.oldLen > r.newAddr && r.newAddr+r.newLen > r.addr {
		return EINVAL
	}
	return 0
}

func (as *AddressSpace) doMremap(addr, oldLen, newLen uint64, flags MremapFlag, newAddr uint64, tb *trace.Buffer) (uint64, error) {
	// do_mremap(): PAGE_ALIGN both lengths; an old length that wraps to
	// 0 is the duplicating old_len 0, as in Linux.
	r := remap{addr: addr, oldLen: pageAlign(oldLen), newLen: pageAlign(newLen), newAddr: newAddr, flags: flags}
	if errno := r.checkParams(); errno != 0 {
		return 0, errno
	}
	got, err := as.mremapLocked(&r, tb)
	if err != nil {
		return 0, err
	}
	// do_mremap(): "if (!failed && vrm->mlocked && vrm->new_len >
	// vrm->old_len) mm_populate(vrm->new_addr + vrm->old_len,
	// vrm->delta)", after the mmap lock is dropped.
	if r.mlocked && r.newLen > r.oldLen {
		as.populate(r.newAddr+r.oldLen, r.newLen-r.oldLen, r.prot, r.private)
	}
	return got, nil
}

// mremapLocked runs one mremap call under the mmap write lock.
func (as *AddressSpace) mremapLocked(r *remap, tb *trace.Buffer) (uint64, error) {
	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return 0, ErrClosed
	}
	c := as.beginLocked("mremap", tb)
	got, errno := c.mremapLocked(r)
	if errno != 0 {
		if c.touched() {
			c.finishLocked() // a failure after a partial change keeps it, as Linux does
		} else {
			c.abortLocked()
		}
		return 0, errno
	}
	c.finishLocked()
	as.stats.mremaps.Add(1)
	return got, nil
}

// statAccountLocked mirrors vrm_stat_account(): bytes more of v, which
// is being resized or moved, count in mm->locked_vm if v is VM_LOCKED,
// and the call then populates its growth.
func (c *change) statAccountLocked(r *remap, v *vma.VMA, bytes uint64) {
	if v.Flags&flagLocked == 0 {
		return
	}
	c.as.lockLocked(v.Flags, bytes)
	r.mlocked = true
	r.prot = Prot(v.Prot)
	r.private = v.Flags&vma.FlagShared == 0
}

// touched reports whether the change has edited the tree or scheduled a
// shootdown, so that it must be committed rather than aborted.
func (c *change) touched() bool { return c.edited || c.detachedAny || len(c.flush) > 0 }

func (c *change) mremapLocked(r *remap) (uint64, Errno) {
	// The end of check_mremap_params(): a move may split both the source
	// and the target in three, so it needs 4 maps to spare ("map_count
	// + 2 >= sysctl_max_map_count - 3").
	if r.impliesNewAddr() && c.tx.Len()+2 >= c.as.cfg.MaxMapCount-3 {
		return 0, ENOMEM
	}
	// vrm_move_only(): a same-size MREMAP_FIXED move (Linux 6.17+).
	if r.flags&MremapFixed != 0 && r.oldLen == r.newLen {
		return c.remapMoveLocked(r)
	}
	v := c.tx.Find(r.addr)
	if errno := c.checkPrepLocked(r, v); errno != 0 {
		return 0, errno
	}
	if r.impliesNewAddr() {
		return c.mremapToLocked(r)
	}
	return c.mremapAtLocked(r, v)
}

// checkPrepLocked mirrors check_prep_vma for v, the VMA containing r.addr
// (nil if none).
func (c *change) checkPrepLocked(r *remap, v *vma.VMA) Errno {
	if v == nil {
		return EFAULT
	}
	if !r.impliesNewAddr() {
		r.newAddr = r.addr
	}
	if !r.willMapNew() {
		return 0 // a shrink or no-op may span VMAs and holes
	}
	// old_len 0 duplicates a shared mapping; for a private one it would
	// be a new, unrelated mapping, so it is refused.
	if r.oldLen == 0 && v.Flags&(vma.FlagShared|flagMayShare) == 0 {
		return EINVAL
	}
	oldLen := r.oldLen
	if r.newLen < r.oldLen {
		oldLen = r.newLen // MREMAP_SHRINK: the unmapped tail may cross VMAs
	}
	if oldLen > v.End-r.addr {
		return EFAULT // can't remap across the end of a VMA
	}
	if r.newLen == oldLen {
		return 0
	}
	pgoff := v.PgoffAt(r.addr)
	if pgoff+r.newLen>>pgtable.PageShift < pgoff {
		return EINVAL
	}
	// remap_is_valid(): vrm->delta is the size difference either way,
	// so even a shrinking MREMAP_FIXED move of a locked VMA is checked
	// for it.
	delta := r.newLen - r.oldLen
	if r.oldLen > r.newLen {
		delta = r.oldLen - r.newLen
	}
	if !c.as.mlockFutureOKLocked(v.Flags, delta) {
		return EAGAIN
	}
	return 0
}

// mremapAtLocked mirrors mremap_at: resize without a new address.
func (c *change) mremapAtLocked(r *remap, v *vma.VMA) (uint64, Errno) {
	switch {
	case r.newLen == r.oldLen:
		return r.addr, 0
	case r.newLen < r.oldLen:
		// shrink_vma(): do_vmi_munmap() of the tail, with its range
		// checks and its map-count check.
		if errno := c.munmapLocked(r.addr+r.newLen, r.oldLen-r.newLen); errno != 0 {
			return 0, errno
		}
		return r.addr, 0
	}
	// expand_vma(): in place if [addr, addr+old_len) ends the VMA and the
	// space after it is free.
	delta := r.newLen - r.oldLen
	if v.End-r.addr == r.oldLen && c.expandableLocked(v, delta) {
		// vma_merge_extend(): the VMA grows (it is the "prev" of the new
		// range, so never merges backwards) and merges with the next
		// VMA if they now touch and are compatible.
		ext := v.Copy()
		ext.Start, ext.End = v.End, v.End+delta
		ext.Pgoff = v.PgoffAt(v.End)
		c.insertMergedLocked(ext)
		c.statAccountLocked(r, v, delta) // expand_vma_in_place()
		return r.addr, 0
	}
	if r.flags&MremapMaymove == 0 {
		return 0, ENOMEM
	}
	if errno := c.setNewAddrLocked(r); errno != 0 {
		return 0, errno
	}
	return c.moveVMALocked(r)
}

// expandableLocked mirrors vma_expandable: the delta after v is free and
// [v.Start, v.End+delta) would be a valid MAP_FIXED range.
func (c *change) expandableLocked(v *vma.VMA, delta uint64) bool {
	end := v.End + delta
	if end < v.End || overlaps(c.tx, v.End, end) {
		return false
	}
	_, errno := c.as.getUnmappedAreaLocked(c.tx, nil, v.Start, end-v.Start, MapFixed)
	return errno == 0
}

// munmapLocked is do_vmi_munmap() inside a larger change: the checks of
// munmap(2), the map-count check of a split in three, and the unmap.
func (c *change) munmapLocked(addr, length uint64) Errno {
	if addr&pgtable.PageMask != 0 || addr > TaskSize || length > TaskSize-addr {
		return EINVAL
	}
	end := addr + pageAlign(length)
	if end == addr {
		return EINVAL
	}
	if splitsOverLimit(c.tx, addr, end, c.as.cfg.MaxMapCount) {
		return ENOMEM
	}
	c.unmapLocked(addr, end)
	return 0
}

// setNewAddrLocked mirrors vrm_set_new_addr: the target is the MAP_FIXED
// address, a hint (MREMAP_DONTUNMAP without MREMAP_FIXED; unlike mmap's,
// it is not raised to mmap_min_addr), or chosen top-down, as
// get_unmapped_area() does for the VMA's file and sharing.
func (c *change) setNewAddrLocked(r *remap) Errno {
	v := c.tx.Find(r.addr)
	hint := uint64(0)
	if r.impliesNewAddr() {
		hint = r.newAddr
	}
	flags := MapPrivate
	if v.Flags&flagMayShare != 0 {
		flags = MapShared
	}
	if r.flags&MremapFixed != 0 {
		flags |= MapFixed
	}
	var f Backing
	if v.Flags&vma.FlagAnonymous == 0 {
		f, _ = v.Backing.(Backing)
	}
	a, errno := c.as.getUnmappedAreaLocked(c.tx, f, hint, r.newLen, flags)
	if errno != 0 {
		return errno
	}
	r.newAddr = a
	return 0
}

// mremapToLocked mirrors mremap_to: MREMAP_FIXED unmaps the target first
// (do_munmap(), whose errors — and whose effect — stand even if a later
// check fails); a shrink happens before the move.
func (c *change) mremapToLocked(r *remap) (uint64, Errno) {
	if r.flags&MremapFixed != 0 {
		if errno := c.munmapLocked(r.newAddr, r.newLen); errno != 0 {
			return 0, errno
		}
		c.flushLocked()
		if c.tx.Find(r.addr) == nil {
			return 0, EFAULT
		}
	}
	if r.newLen < r.oldLen {
		if errno := c.munmapLocked(r.addr+r.newLen, r.oldLen-r.newLen); errno != 0 {
			return 0, errno
		}
		if c.tx.Find(r.addr) == nil {
			return 0, EFAULT
		}
		r.oldLen = r.newLen
	}
	if errno := c.setNewAddrLocked(r); errno != 0 {
		return 0, errno
	}
	return c.moveVMALocked(r)
}

// remapMoveLocked mirrors remap_move (Linux 6.17+): a same-size
// MREMAP_FIXED move of every VMA in [addr, addr+old_len), each by its own
// mremap_to() to the same offset from the target, so the holes between
// source VMAs are kept (and whatever is mapped there at the target is
// left alone). A hole at the start is EFAULT; a failure stops the walk
// with the VMAs before it already moved.
func (c *change) remapMoveLocked(r *remap) (uint64, Errno) {
	start, end := r.addr, r.addr+r.oldLen
	target := r.newAddr
	res, resErr := uint64(0), EFAULT
	seen := false
	var lastEnd uint64
	// cur resumes after the end of the last source VMA, so a VMA that
	// grew into the range by merging with a moved piece is not visited
	// again (for_each_vma_range() over a paused iterator).
	for cur := start; cur < end; {
		v := c.tx.FindNext(cur)
		if v == nil || v.Start >= end {
			break
		}
		if !seen && start < v.Start {
			return 0, EFAULT
		}
		addr := max(v.Start, start)
		length := min(end, v.End) - addr
		offset := uint64(0)
		if seen {
			offset = v.Start - lastEnd
		}
		lastEnd = v.End
		sub := remap{addr: addr, oldLen: length, newLen: length, flags: r.flags, newAddr: target + offset}
		if errno := c.checkPrepLocked(&sub, v); errno != 0 {
			return 0, errno
		}
		got, errno := c.mremapToLocked(&sub)
		if errno != 0 {
			return 0, errno
		}
		if !seen {
			res, resErr = got, 0
		}
		seen = true
		target = got + length
		cur = lastEnd
	}
	return res, resErr
}

// moveVMALocked mirrors move_vma: copy the source VMA to r.newAddr
// (copy_vma(), which may merge the copy with the target's neighbours —
// even with the source VMA itself), move the PTEs, then unmap the source
// — or, with MREMAP_DONTUNMAP, leave it mapped and empty. If the unmap
// fails (a split at the map-count limit, or old_len 0: do_vmi_munmap()
// says EINVAL), the source stays mapped and the call still succeeds; its
// pages have moved.
func (c *change) moveVMALocked(r *remap) (uint64, Errno) {
	as := c.as
	// prep_move_vma(): "We'd prefer to avoid failure later on in
	// do_munmap: which may split one vma into three before unmapping."
	if c.tx.Len() >= as.cfg.MaxMapCount-3 {
		return 0, ENOMEM
	}
	v := c.tx.Find(r.addr)
	src, srcEnd, dst := r.addr, r.addr+r.oldLen, r.newAddr

	// copy_vma(): the copy keeps its page offset, except that anonymous
	// memory never faulted (no anon_vma) takes its new address's, "to
	// increase its chance of merging".
	n := v.Copy()
	n.Start, n.End = dst, dst+r.newLen
	n.Pgoff = v.PgoffAt(src)
	if v.Flags&(vma.FlagAnonymous|vma.FlagShared) == vma.FlagAnonymous && v.AnonVMA() == 0 {
		n.Pgoff = dst >> pgtable.PageShift
	}
	moved := c.insertMergedLocked(n)
	c.statAccountLocked(r, v, r.newLen) // move_vma()
	if r.oldLen == 0 {
		return dst, 0 // a duplicate: nothing to move, nothing to unmap
	}

	// The VMA over the source is detached while its PTEs move, so that
	// no fault installs a page there meanwhile.
	if r.flags&MremapDontunmap == 0 && !splitsOverLimit(c.tx, src, srcEnd, as.cfg.MaxMapCount) {
		// unmap_source_vma(): the source goes.
		c.markRangeLocked(src, srcEnd)
		c.unlockRangeLocked(src, srcEnd)
		c.tx.Unmap(src, srcEnd)
		c.edited = true
		c.detachLocked()
		as.mm.Table.Move(src, r.oldLen, dst)
	} else {
		// The source stays, whole (its VMA is not split), but empty: it
		// is replaced by a copy while the PTEs move.
		s := c.tx.Find(src)
		c.removeLocked(s)
		c.detachLocked()
		as.mm.Table.Move(src, r.oldLen, dst)
		cp := s.Copy()
		if r.flags&MremapDontunmap != 0 && s != moved && s.Start == src && s.End == srcEnd {
			// dontunmap_complete(): the whole source VMA moved to
			// another VMA, so it gives up its anon_vma
			// (unlink_anon_vmas()). It keeps VM_ACCOUNT (Linux 6.18).
			cp.CloneAnon(nil)
		}
		if r.flags&MremapDontunmap != 0 {
			// dontunmap_complete(): "We always clear
			// VM_LOCKED[ONFAULT] on the old VMA" — all of it, in
			// place, without a merge — and, "because we won't
			// unmap", leave mm->locked_vm as move_vma() raised it.
			cp.Flags &^= flagLocked
		}
		c.insertLocked(cp)
	}
	c.flush = append(c.flush, span{src, srcEnd})
	c.flushLocked()
	return dst, 0
}
