package model

// This file mirrors the VMA merge logic of mm/vma.c (Linux 6.18). A VMA's
// anon_vma chain is singular unless Fork copied it from one with an
// anon_vma (VMA.Forked).

// sameAttrs is mm/vma.c: is_mergeable_vma(): equal vm_flags (prot, sharing
// and the hidden flags) and the same vm_file (for shared anonymous memory
// the vm_file is the per-mmap shmem file, hence Shm).
func sameAttrs(a, b *VMA) bool {
	return a.Prot == b.Prot && a.Shared == b.Shared && a.Anon == b.Anon &&
		a.File == b.File && a.Shm == b.Shm && a.Flags == b.Flags
}

// anonCompatible is mm/vma.c: are_anon_vmas_compatible(): two anon_vmas
// can share a VMA if either is missing (the survivor takes the other's,
// dup_anon_vma()) or they are the same.
func anonCompatible(a, b int) bool { return a == 0 || b == 0 || a == b }

// anonMergeable is mm/vma.c: is_mergeable_anon_vma(): the neighbour tgt
// may merge with src, the range being mapped, changed or moved, if their
// anon_vmas are compatible and the one they would share is not a fork
// child's (vma_is_fork_child()).
func anonMergeable(tgt, src *VMA) bool {
	switch {
	case tgt.AnonID == 0 && src.AnonID != 0:
		return !src.Forked
	case tgt.AnonID != 0 && src.AnonID == 0:
		return !tgt.Forked
	}
	return tgt.AnonID == src.AnonID
}

// takeAnon gives dst the anon_vma (and chain) of the first of dst and
// srcs that has one.
func takeAnon(dst *VMA, srcs ...*VMA) {
	if dst.AnonID != 0 {
		return
	}
	for _, s := range srcs {
		if s.AnonID != 0 {
			dst.AnonID, dst.Forked = s.AnonID, s.Forked
			return
		}
	}
}

// mergeNew places v in the free range [v.Start, v.End), merging it with
// the VMA that ends at v.Start and/or the one that starts at v.End when
// they are compatible (mm/vma.c: vma_merge_new_range(), vma_expand()).
// v.AnonID is the anon_vma of the VMA being copied by mremap
// (vma_merge_copied_range()) or 0 for a new mapping; a merge target
// without an anon_vma inherits it. justExpand forbids merging with the
// next VMA. mergeNew returns the index of the VMA now covering v's range.
func (m *Model) mergeNew(v VMA, justExpand bool) int {
	n := m.findNext(v.Start) // first VMA ending after v.Start: the would-be next
	var prev, next *VMA
	if n > 0 && m.vmas[n-1].End == v.Start {
		prev = &m.vmas[n-1]
	}
	if n < len(m.vmas) && m.vmas[n].Start == v.End {
		next = &m.vmas[n]
	}
	// can_vma_merge_left(): prev ends at v.Start, same attributes,
	// compatible anon_vma, contiguous pgoff (can_vma_merge_after()).
	canLeft := prev != nil && sameAttrs(prev, &v) && anonMergeable(prev, &v) &&
		prev.Pgoff+prev.Pages() == v.Pgoff
	// can_vma_merge_right(): the same towards next (can_vma_merge_before()),
	// and when merging both sides prev and next must agree with each other
	// (are_anon_vmas_compatible()).
	canRight := !justExpand && next != nil && sameAttrs(next, &v) &&
		anonMergeable(next, &v) && next.Pgoff == v.Pgoff+v.Pages() &&
		(!canLeft || anonCompatible(prev.AnonID, next.AnonID))
	switch {
	case canLeft && canRight:
		// prev absorbs v and next; next is removed (dup_anon_vma(prev, next),
		// then dup_anon_vma(prev, copied_from)).
		prev.End = next.End
		takeAnon(prev, next, &v)
		m.vmas = append(m.vmas[:n], m.vmas[n+1:]...)
		return n - 1
	case canLeft:
		prev.End = v.End
		takeAnon(prev, &v)
		return n - 1
	case canRight:
		next.Start = v.Start
		next.Pgoff = v.Pgoff
		takeAnon(next, &v)
		return n
	}
	return m.insert(v)
}

// modifyRange changes the attributes of [start, end), which lies inside
// vmas[i], to those change() gives, merging with a neighbour where
// possible and otherwise splitting vmas[i] (mm/vma.c: vma_modify(),
// vma_merge_existing_range(), split_vma()). It returns the index of the
// VMA covering the range afterwards. A split at the map-count limit
// fails with ENOMEM and leaves any split already made in place, as Linux
// does.
func (m *Model) modifyRange(i int, start, end uint64, change func(*VMA)) (int, Errno) {
	mid := m.vmas[i]
	nv := mid
	change(&nv)
	leftSide := start == mid.Start
	rightSide := end == mid.End
	pgoff := mid.Pgoff + (start-mid.Start)/PageSize
	pages := (end - start) / PageSize

	if leftSide || rightSide {
		var prev, next *VMA
		if leftSide && i > 0 && m.vmas[i-1].End == start {
			prev = &m.vmas[i-1]
		}
		if rightSide && i+1 < len(m.vmas) && m.vmas[i+1].Start == end {
			next = &m.vmas[i+1]
		}
		mergeLeft := prev != nil && sameAttrs(prev, &nv) &&
			anonMergeable(prev, &mid) && prev.Pgoff+prev.Pages() == pgoff
		mergeRight := next != nil && sameAttrs(next, &nv) &&
			anonMergeable(next, &mid) && next.Pgoff == pgoff+pages &&
			(!mergeLeft || anonCompatible(prev.AnonID, next.AnonID))
		switch {
		case mergeLeft && mergeRight:
			// prev absorbs middle and next:
			// dup_anon_vma(prev, next->anon_vma ? next : middle).
			prev.End = next.End
			takeAnon(prev, next, &mid)
			m.vmas = append(m.vmas[:i], m.vmas[i+2:]...)
			return i - 1, 0
		case mergeLeft:
			// prev grows to end; middle shrinks or goes.
			prev.End = end
			takeAnon(prev, &mid)
			if rightSide {
				m.vmas = append(m.vmas[:i], m.vmas[i+1:]...)
			} else {
				m.vmas[i].Start = end
				m.vmas[i].Pgoff = pgoff + pages
			}
			return i - 1, 0
		case mergeRight:
			// next grows down to start; middle shrinks or goes.
			next.Start = start
			next.Pgoff = pgoff
			takeAnon(next, &mid)
			if leftSide {
				m.vmas = append(m.vmas[:i], m.vmas[i+1:]...)
				return i, 0
			}
			m.vmas[i].End = start
			return i + 1, 0
		}
	}
	// No merge: split off the parts outside [start, end), each split
	// checked against the map-count limit (split_vma()).
	if start > mid.Start {
		if len(m.vmas) >= m.cfg.MaxMapCount {
			return i, ENOMEM
		}
		m.split(i, start)
		i++
	}
	if end < m.vmas[i].End {
		if len(m.vmas) >= m.cfg.MaxMapCount {
			return i, ENOMEM
		}
		m.split(i, end)
	}
	change(&m.vmas[i])
	return i, 0
}

// anonCompatibleNeighbours is mm/rmap.c: anon_vma_compatible(a, b): a ends
// where b starts, same file, vm_flags equal apart from the access bits, and
// contiguous pgoff.
func anonCompatibleNeighbours(a, b *VMA) bool {
	return a.End == b.Start && a.File == b.File && a.Shm == b.Shm && a.Anon == b.Anon &&
		a.Shared == b.Shared && a.Flags == b.Flags &&
		b.Pgoff == a.Pgoff+(b.Start-a.Start)/PageSize
}

// anonVMAPrepare gives vmas[i] an anon_vma if it has none, reusing the
// next or else the previous neighbour's when compatible and alone on the
// neighbour's chain (mm/rmap.c: __anon_vma_prepare(),
// find_mergeable_anon_vma(): "try next first", reusable_anon_vma()).
// Reuse is what lets two separately faulted VMAs merge later.
func (m *Model) anonVMAPrepare(i int) {
	v := &m.vmas[i]
	if v.AnonID != 0 {
		return
	}
	if i+1 < len(m.vmas) {
		if n := &m.vmas[i+1]; n.AnonID != 0 && !n.Forked && anonCompatibleNeighbours(v, n) {
			v.AnonID = n.AnonID
			return
		}
	}
	if i > 0 {
		if p := &m.vmas[i-1]; p.AnonID != 0 && !p.Forked && anonCompatibleNeighbours(p, v) {
			v.AnonID = p.AnonID
			return
		}
	}
	v.AnonID = m.newAnonID()
}
