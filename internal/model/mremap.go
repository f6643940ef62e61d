package model

// remap is mm/mremap.c: struct vma_remap_struct: one mremap operation.
type remap struct {
	addr, oldLen, newLen uint64
	flags                uint32
	newAddr              uint64
	i                    int // index of the source VMA
	// mlocked is vrm->mlocked: the VMA resized or moved is VMLocked, so
	// its growth is populated at the end (do_mremap()).
	mlocked bool
}

func (r *remap) impliesNewAddr() bool { return r.flags&(MremapFixed|MremapDontunmap) != 0 }

// Mremap mirrors mremap(2) as Linux 6.18 implements it (mm/mremap.c:
// do_mremap()). Since 6.17, an MREMAP_FIXED move that does not resize may
// span several VMAs, keeping the gaps between them (remap_move()); such a
// move can fail half-way with the VMAs before the failure already moved.
func (m *Model) Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, Errno) {
	r := remap{addr: oldAddr, oldLen: pageAlign(oldLen), newLen: pageAlign(newLen), flags: flags, newAddr: newAddr}
	if err := m.checkMremapParams(&r); err != 0 {
		return 0, err
	}
	if r.flags&MremapFixed != 0 && r.oldLen == r.newLen { // vrm_move_only()
		return m.remapMove(&r)
	}
	r.i = m.find(r.addr)
	if err := m.checkPrepVMA(&r); err != 0 {
		return 0, err
	}
	var res uint64
	var err Errno
	if r.impliesNewAddr() {
		res, err = m.mremapTo(&r)
	} else {
		res, err = m.mremapAt(&r)
	}
	// do_mremap(): "if (!failed && vrm->mlocked && vrm->new_len >
	// vrm->old_len) mm_populate(vrm->new_addr + vrm->old_len,
	// vrm->delta)".
	if err == 0 && r.mlocked && r.newLen > r.oldLen {
		if i := m.find(res + r.oldLen); i >= 0 {
			m.populate(i, res+r.oldLen, res+r.newLen)
		}
	}
	return res, err
}

// statAccount is mm/mremap.c: vrm_stat_account(): bytes more of v count
// in mm->locked_vm if v is locked, and then its growth is populated.
func (m *Model) statAccount(r *remap, v *VMA, bytes uint64) {
	if v.Flags&VMLocked != 0 {
		m.account(v.Flags, bytes)
		r.mlocked = true
	}
}

// checkMremapParams is mm/mremap.c: check_mremap_params(): the checks that
// need no VMA. The lengths are already page-aligned.
func (m *Model) checkMremapParams(r *remap) Errno {
	if r.flags&^(MremapFixed|MremapMaymove|MremapDontunmap) != 0 {
		return EINVAL
	}
	if !pageAligned(r.addr) {
		return EINVAL
	}
	if r.newLen == 0 || r.newLen > m.cfg.TaskSize {
		return EINVAL
	}
	if !r.impliesNewAddr() {
		return 0
	}
	if r.newAddr > m.cfg.TaskSize-r.newLen {
		return EINVAL
	}
	if !pageAligned(r.newAddr) {
		return EINVAL
	}
	if r.flags&MremapMaymove == 0 {
		return EINVAL
	}
	if r.flags&MremapDontunmap != 0 && r.oldLen != r.newLen {
		return EINVAL
	}
	// vrm_overlaps(): the target may not overlap the source.
	if r.addr+r.oldLen > r.newAddr && r.newAddr+r.newLen > r.addr {
		return EINVAL
	}
	// Both the source and the target may be split in three before the
	// move; keep 4 maps below the limit ("map_count + 2 >= max - 3").
	if len(m.vmas)+2 >= m.cfg.MaxMapCount-3 {
		return ENOMEM
	}
	return 0
}

func (r *remap) willMapNew() bool { return r.newLen > r.oldLen || r.impliesNewAddr() }

// checkPrepVMA is mm/mremap.c: check_prep_vma() for the VMA at r.i.
func (m *Model) checkPrepVMA(r *remap) Errno {
	if r.i < 0 {
		return EFAULT
	}
	if !r.impliesNewAddr() {
		r.newAddr = r.addr
	}
	if !r.willMapNew() {
		return 0 // a shrink or no-op may span VMAs and holes
	}
	v := &m.vmas[r.i]
	// old_len == 0 duplicates a shared mapping; a private one would be
	// a new unrelated mapping, so it is refused.
	if r.oldLen == 0 && !v.Shared {
		return EINVAL
	}
	oldLen := r.oldLen
	if r.newLen < r.oldLen {
		oldLen = r.newLen // the shrunk tail may cross VMA boundaries
	}
	if oldLen > v.End-r.addr {
		return EFAULT
	}
	if r.newLen == oldLen {
		return 0
	}
	pgoff := v.Pgoff + (r.addr-v.Start)/PageSize
	if pgoff+r.newLen/PageSize < pgoff {
		return EINVAL
	}
	// remap_is_valid(): mlock_future_ok() for vrm->delta, the size
	// difference whichever way it goes.
	delta := max(r.newLen, r.oldLen) - min(r.newLen, r.oldLen)
	if !m.mlockFutureOK(v.Flags, delta) {
		return EAGAIN
	}
	return 0
}

// mremapAt is mm/mremap.c: mremap_at(): resize without a new address.
func (m *Model) mremapAt(r *remap) (uint64, Errno) {
	switch {
	case r.newLen == r.oldLen:
		return r.addr, 0
	case r.newLen < r.oldLen:
		// shrink_vma(): unmap the tail with do_vmi_munmap(), whose range
		// checks apply (a tail reaching past TASK_SIZE is EINVAL).
		if err := m.Munmap(r.addr+r.newLen, r.oldLen-r.newLen); err != 0 {
			return 0, err
		}
		return r.addr, 0
	}
	// expand_vma(): in place if [addr, addr+old_len) ends the VMA and the
	// space after it is free, else move if allowed.
	v := m.vmas[r.i]
	delta := r.newLen - r.oldLen
	if v.End-r.addr == r.oldLen && m.expandable(&v, delta) {
		// vma_merge_extend(): grow the VMA, merging with the next one if
		// they now touch and are compatible.
		ext := v
		ext.Start = v.End
		ext.End = v.End + delta
		ext.Pgoff = v.Pgoff + v.Pages()
		m.mergeNew(ext, false)
		m.statAccount(r, &v, delta) // expand_vma_in_place()
		return r.addr, 0
	}
	if r.flags&MremapMaymove == 0 {
		return 0, ENOMEM
	}
	if err := m.setNewAddr(r); err != 0 {
		return 0, err
	}
	return m.moveVMA(r)
}

// expandable is mm/mremap.c: vma_expandable(): nothing mapped in the
// delta bytes after v, and the grown VMA passes the MAP_FIXED checks of
// get_unmapped_area().
func (m *Model) expandable(v *VMA, delta uint64) bool {
	end := v.End + delta
	if end < v.End || m.intersects(v.End, end) {
		return false
	}
	_, err := m.getUnmappedArea(v.Start, end-v.Start, true)
	return err == 0
}

// setNewAddr is mm/mremap.c: vrm_set_new_addr(): the target is a
// MAP_FIXED address, a hint (MREMAP_DONTUNMAP without MREMAP_FIXED; note
// that, unlike mmap, the hint is not raised to mmap_min_addr), or chosen
// top-down.
func (m *Model) setNewAddr(r *remap) Errno {
	hint := uint64(0)
	if r.impliesNewAddr() {
		hint = r.newAddr
	}
	addr, err := m.getUnmappedArea(hint, r.newLen, r.flags&MremapFixed != 0)
	if err != 0 {
		return err
	}
	r.newAddr = addr
	return 0
}

// mremapTo is mm/mremap.c: mremap_to(): move to r.newAddr (MREMAP_FIXED)
// or near it (MREMAP_DONTUNMAP alone).
func (m *Model) mremapTo(r *remap) (uint64, Errno) {
	if r.flags&MremapFixed != 0 {
		// Like MAP_FIXED, clear the target first (do_munmap()).
		if err := m.Munmap(r.newAddr, r.newLen); err != 0 {
			return 0, err
		}
		if r.i = m.find(r.addr); r.i < 0 {
			return 0, EFAULT
		}
	}
	if r.newLen < r.oldLen {
		if err := m.Munmap(r.addr+r.newLen, r.oldLen-r.newLen); err != 0 {
			return 0, err
		}
		if r.i = m.find(r.addr); r.i < 0 {
			return 0, EFAULT
		}
		r.oldLen = r.newLen
	}
	if err := m.setNewAddr(r); err != 0 {
		return 0, err
	}
	return m.moveVMA(r)
}

// moveVMA is mm/mremap.c: move_vma(): copy the VMA to r.newAddr
// (copy_vma(), which may merge it with the target's neighbours), move the
// pages, then unmap the source — or, with MREMAP_DONTUNMAP, leave it
// mapped and empty.
func (m *Model) moveVMA(r *remap) (uint64, Errno) {
	// prep_move_vma(): "We'd prefer to avoid failure later on in
	// do_munmap: which may split one vma into three before unmapping."
	if len(m.vmas) >= m.cfg.MaxMapCount-3 {
		return 0, ENOMEM
	}
	v := m.vmas[r.i]
	nv := v
	nv.Start = r.newAddr
	nv.End = r.newAddr + r.newLen
	nv.Pgoff = v.Pgoff + (r.addr-v.Start)/PageSize
	if v.isAnonymous() && v.AnonID == 0 {
		// copy_vma(): an unfaulted anonymous VMA takes the pgoff of its
		// new address, "to increase its chance of merging".
		nv.Pgoff = r.newAddr / PageSize
	}
	j := m.mergeNew(nv, false)
	m.mem.movePrivate(r.addr, r.newAddr, r.oldLen)
	m.statAccount(r, &v, r.newLen) // move_vma()

	if r.flags&MremapDontunmap != 0 {
		// dontunmap_complete(): if all of the source VMA moved to a
		// different VMA, the source loses its anon_vma
		// (unlink_anon_vmas()). It keeps VM_ACCOUNT: measured on 6.18,
		// although 6.16's dontunmap_complete() cleared it.
		s := m.find(r.addr)
		if s != j && m.vmas[s].Start == r.addr && m.vmas[s].End == r.addr+r.oldLen {
			m.vmas[s].AnonID, m.vmas[s].Forked = 0, false
		}
		// It always loses VM_LOCKED, all of it, in place (no merge),
		// and mm->locked_vm keeps what move_vma() added: "Because we
		// won't unmap we don't need to touch locked_vm".
		m.vmas[s].Flags &^= VMLocked
		return r.newAddr, 0
	}
	// unmap_source_vma(): VM_ACCOUNT is cleared and restored around the
	// unmap, so the remaining parts keep it. If the unmap fails — a split
	// at the map-count limit, or old_len 0 (a duplicated shared mapping:
	// do_vmi_munmap() says EINVAL) — the source stays mapped; its pages
	// have moved.
	m.Munmap(r.addr, r.oldLen)
	return r.newAddr, 0
}

// remapMove is mm/mremap.c: remap_move(): an MREMAP_FIXED move without
// resize, over every VMA in [addr, addr+old_len), each moved by its own
// mremap_to() to the same offset from the target, so holes between the
// source VMAs are kept (and whatever is mapped in them at the target is
// left alone). A hole at the start is EFAULT; a failure stops the walk
// with the VMAs before it already moved.
func (m *Model) remapMove(r *remap) (uint64, Errno) {
	start, end := r.addr, r.addr+r.oldLen
	target := r.newAddr
	res, resErr := uint64(0), EFAULT
	seen := false
	var lastEnd uint64
	// cur is where the VMA iterator resumes: after the end of the last
	// source VMA (for_each_vma_range() over a paused maple state), so a
	// VMA that grew into the range by merging with a moved piece is not
	// visited again.
	cur := start
	for cur < end {
		i := m.findNext(cur)
		if i == len(m.vmas) || m.vmas[i].Start >= end {
			break
		}
		v := m.vmas[i]
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
		sub := remap{addr: addr, oldLen: length, newLen: length, flags: r.flags, newAddr: target + offset, i: i}
		if err := m.checkPrepVMA(&sub); err != 0 {
			return 0, err
		}
		got, err := m.mremapTo(&sub)
		if err != 0 {
			return 0, err
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
