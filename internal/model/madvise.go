package model

// Madvise mirrors madvise(2) for the advice values the model implements:
// mm/madvise.c: do_madvise() → madvise_walk_vmas(). Unlike mprotect, the
// walk skips holes and carries on; it returns ENOMEM at the end if it met
// one. An error from one VMA (EINVAL from MADV_FREE on a non-anonymous
// mapping or from MADV_WIPEONFORK on a shared or file one, EAGAIN from a
// split at the map-count limit) stops the walk with the VMAs before it
// already advised. MADV_POPULATE_READ and MADV_POPULATE_WRITE take their
// own walk instead (see populateAdvised).
func (m *Model) Madvise(addr, length uint64, advice int) Errno {
	// madvise_should_skip() → is_valid_madvise().
	switch advice {
	case MadvNormal, MadvRandom, MadvSequential, MadvWillneed, MadvDontneed, MadvFree,
		MadvDontfork, MadvDofork, MadvHugepage, MadvNohugepage, MadvDontdump, MadvDodump,
		MadvWipeonfork, MadvKeeponfork, MadvCold, MadvPageout, MadvPopulateRead, MadvPopulateWrite:
	default:
		return EINVAL
	}
	if !pageAligned(addr) {
		return EINVAL
	}
	l := pageAlign(length)
	if length != 0 && l == 0 {
		return EINVAL
	}
	end := addr + l
	if end < addr {
		return EINVAL
	}
	if end == addr {
		return 0
	}
	if advice == MadvPopulateRead || advice == MadvPopulateWrite {
		return m.populateAdvised(addr, end, advice == MadvPopulateWrite)
	}

	var unmapped Errno
	cur := addr
	i := m.findNext(cur)
	for {
		if i == len(m.vmas) {
			return ENOMEM
		}
		if cur < m.vmas[i].Start {
			unmapped = ENOMEM
			cur = m.vmas[i].Start
			if cur >= end {
				break
			}
		}
		rend := min(m.vmas[i].End, end)
		j, err := m.madviseVMA(i, cur, rend, advice)
		if err != 0 {
			return err
		}
		cur = m.vmas[j].End
		i = j + 1
		if cur >= end {
			break
		}
	}
	return unmapped
}

// madviseVMA is mm/madvise.c: madvise_vma_behavior() for [start, end)
// inside vmas[i]. It returns the index of the VMA covering the range
// afterwards.
func (m *Model) madviseVMA(i int, start, end uint64, advice int) (int, Errno) {
	v := &m.vmas[i]
	flags := v.Flags
	switch advice {
	case MadvDontneed, MadvFree, MadvCold, MadvPageout:
		// madvise_dontneed_free_valid_vma() and can_madv_lru_vma():
		// never on VM_LOCKED memory.
		if flags&VMLocked != 0 {
			return i, EINVAL
		}
	}
	switch advice {
	case MadvWillneed, MadvCold, MadvPageout:
		// Readahead, LRU deactivation, reclaim: nothing the model
		// tracks. madvise_cold() and madvise_pageout() refuse VM_LOCKED
		// (above), VM_PFNMAP and hugetlb VMAs; the model has no others.
		return i, 0
	case MadvDontneed:
		// madvise_dontneed_single_vma(): zap the PTEs. Private pages are
		// gone (anonymous memory reads zero, a file mapping its file
		// again); shared pages live on in their object.
		m.mem.dropPrivate(start, end)
		return i, 0
	case MadvFree:
		// madvise_free_single_vma(): only private anonymous memory.
		if !v.isAnonymous() {
			return i, EINVAL
		}
		for a := start; a < end; a += PageSize {
			if m.mem.priv[a] != nil {
				m.mem.lazy[a] = true
			}
		}
		return i, 0
	case MadvNormal:
		flags &^= VMRandRead | VMSeqRead
	case MadvSequential:
		flags = flags&^VMRandRead | VMSeqRead
	case MadvRandom:
		flags = flags&^VMSeqRead | VMRandRead
	case MadvDontfork:
		flags |= VMDontCopy
	case MadvDofork:
		flags &^= VMDontCopy
	case MadvDontdump:
		flags |= VMDontDump
	case MadvDodump:
		flags &^= VMDontDump
	case MadvWipeonfork:
		// "if (vma->vm_file || new_flags & VM_SHARED) return -EINVAL":
		// shared anonymous memory has a shmem file.
		if !v.isAnonymous() {
			return i, EINVAL
		}
		flags |= VMWipeOnFork
	case MadvKeeponfork:
		flags &^= VMWipeOnFork
	case MadvHugepage:
		// mm/khugepaged.c: hugepage_madvise(), for every kind of VMA.
		flags = flags&^VMNoHuge | VMHugepage
	case MadvNohugepage:
		flags = flags&^VMHugepage | VMNoHuge
	}
	if flags == v.Flags {
		return i, 0 // madvise_update_vma(): unchanged, no merge attempted
	}
	j, err := m.modifyRange(i, start, end, func(n *VMA) { n.Flags = flags })
	if err == ENOMEM {
		err = EAGAIN // "madvise() returns EAGAIN if kernel resources ... are temporarily unavailable"
	}
	return j, err
}

// populateAdvised is madvise_populate() over the page-aligned, non-empty
// [start, end): mm/gup.c: faultin_page_range() with FOLL_MADV_POPULATE.
// It walks from start page by page and stops at the first failure,
// keeping what it populated before: ENOMEM where no VMA contains the page
// (vma_lookup(): no hole is skipped, no stack grown), EINVAL where the
// VMA lacks VM_READ (reading) or VM_WRITE (writing) — check_vma_flags()
// does not grant x86's implicit read permission — and EFAULT where the
// fault fails (VM_FAULT_SIGBUS beyond the end of the file). Each page
// is faulted as Touch faults it; a write fault beyond the end of a file
// still gives a private VMA its anon_vma, as in Touch.
func (m *Model) populateAdvised(start, end uint64, write bool) Errno {
	need := ProtRead
	if write {
		need = ProtWrite
	}
	for a := start; a < end; a += PageSize {
		i := m.find(a)
		if i < 0 {
			return ENOMEM
		}
		if m.vmas[i].Prot&need == 0 {
			return EINVAL
		}
		_, _, _, err := m.access(a, need)
		m.Touch(a, write)
		if err != 0 {
			return EFAULT
		}
	}
	return 0
}
