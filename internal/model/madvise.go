package model

// Madvise mirrors madvise(2) for the advice values the model implements:
// mm/madvise.c: do_madvise() → madvise_walk_vmas(). Unlike mprotect, the
// walk skips holes and carries on; it returns ENOMEM at the end if it met
// one. An error from one VMA (EINVAL from MADV_FREE on a non-anonymous
// mapping, EAGAIN from a split at the map-count limit) stops the walk with
// the VMAs before it already advised.
func (m *Model) Madvise(addr, length uint64, advice int) Errno {
	// madvise_should_skip() → is_valid_madvise().
	switch advice {
	case MadvNormal, MadvRandom, MadvSequential, MadvWillneed, MadvDontneed, MadvFree:
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
	case MadvWillneed:
		return i, 0 // readahead or swap-in only
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
