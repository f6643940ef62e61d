package model

// Mprotect mirrors mprotect(2): mm/mprotect.c: do_mprotect_pkey(). It
// walks the VMAs of [addr, addr+length) in order and changes each; a hole,
// or a VMA that refuses the new protection (EACCES), stops the walk with
// the VMAs before it already changed — Linux does not undo them.
func (m *Model) Mprotect(addr, length uint64, prot uint32) Errno {
	grows := prot & (ProtGrowsDown | ProtGrowsUp)
	prot &^= grows
	if grows == ProtGrowsDown|ProtGrowsUp {
		return EINVAL
	}
	if !pageAligned(addr) {
		return EINVAL
	}
	if length == 0 {
		return 0
	}
	length = pageAlign(length)
	end := addr + length
	if end <= addr {
		return ENOMEM
	}
	// arch_validate_prot(): only R, W, X and PROT_SEM.
	if prot&^(protAccess|ProtSem) != 0 {
		return EINVAL
	}
	prot &= protAccess

	start := addr
	i := m.findNext(start) // vma_find(&vmi, end)
	if i == len(m.vmas) || m.vmas[i].Start >= end {
		return ENOMEM
	}
	if grows&ProtGrowsDown != 0 {
		start = m.vmas[i].Start
		if m.vmas[i].Flags&VMGrowsDown == 0 {
			return EINVAL
		}
	} else {
		if m.vmas[i].Start > start {
			return ENOMEM
		}
		if grows&ProtGrowsUp != 0 {
			return EINVAL // x86 has no VM_GROWSUP
		}
	}

	nstart := start
	tmp := m.vmas[i].Start
	for i < len(m.vmas) && m.vmas[i].Start < end {
		v := &m.vmas[i]
		if v.Start != tmp {
			return ENOMEM // a hole
		}
		// "newflags >> 4 shift VM_MAY% in place of VM_%": only
		// VM_MAYWRITE can be missing here (a shared mapping of a
		// read-only file).
		if prot&ProtWrite != 0 && !v.MayWrite() {
			return EACCES
		}
		tmp = min(v.End, end)
		// mprotect_fixup(): "Private VM_LOCKED VMA becoming writable:
		// trigger COW to avoid major fault on access."
		fill := v.Flags&VMLocked != 0 && !v.VMShared() && v.Prot&ProtWrite == 0 && prot&ProtWrite != 0
		j, err := m.mprotectFixup(i, nstart, tmp, prot)
		if err != 0 {
			return err
		}
		if fill {
			m.populate(j, nstart, tmp)
		}
		tmp = m.vmas[j].End // vma_iter_end(): the merged VMA may reach further
		nstart = tmp
		i = j + 1
	}
	if tmp < end {
		return ENOMEM
	}
	return 0
}

// mprotectFixup is mm/mprotect.c: mprotect_fixup() for [start, end) inside
// vmas[i], including its VM_ACCOUNT bookkeeping. It returns the index of
// the VMA covering the range afterwards.
func (m *Model) mprotectFixup(i int, start, end uint64, prot uint32) (int, Errno) {
	v := m.vmas[i]
	if prot == v.Prot {
		return i, 0 // newflags == oldflags: nothing to do, not even a merge
	}
	flags := v.Flags
	if prot&ProtWrite != 0 {
		// Making a private mapping writable charges it, unless it is
		// already charged, writable, shared or VM_NORESERVE.
		if flags&(VMAccount|VMNoReserve) == 0 && v.Prot&ProtWrite == 0 && !v.VMShared() {
			flags |= VMAccount
		}
	} else if flags&VMAccount != 0 && v.isAnonymous() && v.AnonID == 0 {
		// An unfaulted anonymous VMA may be uncharged again.
		flags &^= VMAccount
	}
	return m.modifyRange(i, start, end, func(n *VMA) {
		n.Prot = prot
		n.Flags = flags
	})
}
