package model

// This file mirrors address selection: mm/mmap.c: __get_unmapped_area(),
// arch/x86/kernel/sys_x86_64.c: arch_get_unmapped_area_topdown() and
// arch_get_unmapped_area(), mm/vma.c: unmapped_area_topdown() and
// unmapped_area(). Transparent-huge-page alignment is not modelled (see
// doc.go).
//
// The gap searches work in two steps, as Linux's do since the maple tree
// ("mm/mmap: regression fix for unmapped_area{_topdown}", 2023): first
// find a free range by the VMAs' real extents alone (the maple tree keeps
// no guard gaps), then check the VMA after it; if that is a
// MAP_GROWSDOWN VMA whose stack guard gap the range overlaps, narrow the
// search window past that VMA's guard gap and search again. The retry
// does not look for the best range that respects guard gaps: everything
// between the new limit and the stack is skipped, even a free range that
// ends below another VMA inside the guard gap.

// startGap is mm.h: vm_start_gap(): a MAP_GROWSDOWN VMA claims
// StackGuardGap of free space below itself.
func startGap(v *VMA) uint64 {
	if v.Flags&VMGrowsDown == 0 {
		return v.Start
	}
	if v.Start < StackGuardGap {
		return 0
	}
	return v.Start - StackGuardGap
}

// hintFree is the hint test of arch_get_unmapped_area_topdown(): the hint
// must fit below TASK_SIZE (mmap_address_hint_valid()) and end at or
// below the next VMA's start gap (find_vma(), vm_start_gap()).
func (m *Model) hintFree(addr, length uint64) bool {
	if m.cfg.TaskSize-length < addr {
		return false
	}
	i := m.findNext(addr)
	return i == len(m.vmas) || addr+length <= startGap(&m.vmas[i])
}

// getUnmappedArea returns where a mapping of length bytes goes: addr
// itself for MAP_FIXED (after range and mmap_min_addr checks), else a free
// hint (already page-rounded by the caller), else a top-down search below
// MmapBase, else — the fallback when top-down fails — a bottom-up search
// above TASK_SIZE/3 (mm/mmap.c: __get_unmapped_area()).
func (m *Model) getUnmappedArea(addr, length uint64, fixed bool) (uint64, Errno) {
	if length > m.cfg.TaskSize {
		return 0, ENOMEM
	}
	if !fixed {
		var ok bool
		addr, ok = m.findArea(addr, length)
		if !ok {
			return 0, ENOMEM
		}
	}
	if addr > m.cfg.TaskSize-length {
		return 0, ENOMEM
	}
	if !pageAligned(addr) {
		return 0, EINVAL
	}
	// security_mmap_addr() → cap_mmap_addr(): below mmap_min_addr needs
	// CAP_SYS_RAWIO, which the model's process does not have.
	if addr < m.cfg.MinAddr {
		return 0, EPERM
	}
	return addr, 0
}

// findArea is arch_get_unmapped_area_topdown() for a non-MAP_FIXED
// request.
func (m *Model) findArea(hint, length uint64) (uint64, bool) {
	if hint != 0 {
		hint &^= PageSize - 1
		if m.hintFree(hint, length) {
			return hint, true
		}
	}
	// vm_unmapped_area(VM_UNMAPPED_AREA_TOPDOWN): low_limit PAGE_SIZE,
	// high_limit mmap_base.
	if a, ok := m.unmappedAreaTopdown(length, PageSize, m.cfg.MmapBase); ok {
		return a, true
	}
	// Fallback: arch_get_unmapped_area(), bottom-up from
	// mmap_legacy_base to TASK_SIZE. Its own hint test repeats the one
	// above and fails again.
	return m.unmappedArea(length, m.cfg.legacyBase(), m.cfg.TaskSize)
}

// unmappedAreaTopdown is mm/vma.c: unmapped_area_topdown() without
// alignment: the highest address of [low, high) where length bytes are
// free and clear of every MAP_GROWSDOWN VMA's guard gap.
func (m *Model) unmappedAreaTopdown(length, low, high uint64) (uint64, bool) {
	low = max(low, m.cfg.MinAddr)
	for {
		// retry: vma_iter_area_highest().
		gapEnd, ok := m.highestFree(low, high, length)
		if !ok {
			return 0, false
		}
		gap := gapEnd - length
		// vma_next(): the first VMA above the free range.
		next := m.findNext(gap)
		if next < len(m.vmas) && m.vmas[next].Flags&VMGrowsDown != 0 {
			if s := startGap(&m.vmas[next]); s < gapEnd {
				// Search again below the guard gap; s < gapEnd <= high,
				// so each retry narrows the window and the loop ends.
				high = s
				continue
			}
		}
		// Otherwise Linux checks vm_end_gap() of the VMA before the
		// range, which differs from vm_end only for VM_GROWSUP (not on
		// x86): the range starts at or above it, so there is no retry.
		return gap, true
	}
}

// unmappedArea is mm/vma.c: unmapped_area() without alignment: the lowest
// address of [low, high) where length bytes are free and clear of every
// MAP_GROWSDOWN VMA's guard gap.
func (m *Model) unmappedArea(length, low, high uint64) (uint64, bool) {
	low = max(low, m.cfg.MinAddr)
	for {
		// retry: vma_iter_area_lowest().
		gap, ok := m.lowestFree(low, high, length)
		if !ok {
			return 0, false
		}
		next := m.findNext(gap)
		// Linux compares with gap + length - 1; for page-aligned values
		// that is the same as overlapping [gap, gap+length).
		if next < len(m.vmas) && m.vmas[next].Flags&VMGrowsDown != 0 && startGap(&m.vmas[next]) < gap+length-1 {
			// Search again above the stack itself: low rises past
			// gap each time, so the loop ends.
			low = m.vmas[next].End
			continue
		}
		return gap, true
	}
}

// highestFree is vma_iter_area_highest(): the end of the highest range of
// [low, high) at least length bytes long that no VMA overlaps (guard
// gaps are not considered), clipped to high.
func (m *Model) highestFree(low, high, length uint64) (uint64, bool) {
	if high <= low || high-low < length {
		return 0, false
	}
	// Walk the holes between VMAs from the top: the hole below vmas[i]
	// is [vmas[i-1].End, vmas[i].Start); the one above the last VMA ends
	// at the top of the address space.
	for i := len(m.vmas); i >= 0; i-- {
		holeStart, holeEnd := uint64(0), high
		if i < len(m.vmas) {
			holeEnd = min(m.vmas[i].Start, high)
		}
		if i > 0 {
			holeStart = m.vmas[i-1].End
		}
		holeStart = max(holeStart, low)
		if holeEnd <= low {
			return 0, false
		}
		if holeEnd > holeStart && holeEnd-holeStart >= length {
			return holeEnd, true
		}
	}
	return 0, false
}

// lowestFree is vma_iter_area_lowest(): the start of the lowest range of
// [low, high) at least length bytes long that no VMA overlaps (guard
// gaps are not considered), raised to low.
func (m *Model) lowestFree(low, high, length uint64) (uint64, bool) {
	if high <= low || high-low < length {
		return 0, false
	}
	for i := 0; i <= len(m.vmas); i++ {
		holeStart, holeEnd := uint64(0), high
		if i > 0 {
			holeStart = m.vmas[i-1].End
		}
		if i < len(m.vmas) {
			holeEnd = min(m.vmas[i].Start, high)
		}
		holeStart = max(holeStart, low)
		if holeStart >= high {
			return 0, false
		}
		if holeEnd > holeStart && holeEnd-holeStart >= length {
			return holeStart, true
		}
	}
	return 0, false
}
