package model

// This file mirrors address selection: mm/mmap.c: __get_unmapped_area(),
// arch/x86/kernel/sys_x86_64.c: arch_get_unmapped_area_topdown() and
// arch_get_unmapped_area(), mm/mmap.c: unmapped_area_topdown() and
// unmapped_area(). Transparent-huge-page alignment is not modelled (see
// doc.go).

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

// freeRanges returns the free intervals of [low, high) in address order,
// treating each VMA as occupying [startGap(v), v.End).
func (m *Model) freeRanges(low, high uint64) [][2]uint64 {
	var out [][2]uint64
	cur := low
	for i := range m.vmas {
		v := &m.vmas[i]
		s := startGap(v)
		if s > cur {
			e := min(s, high)
			if e > cur {
				out = append(out, [2]uint64{cur, e})
			}
		}
		cur = max(cur, v.End)
		if cur >= high {
			return out
		}
	}
	if cur < high {
		out = append(out, [2]uint64{cur, high})
	}
	return out
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
// hint (already page-rounded by the caller), else the top of the highest
// free gap below MmapBase, else — the fallback when top-down fails — the
// bottom of the lowest free gap above TASK_SIZE/3 (mm/mmap.c:
// __get_unmapped_area()).
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
	// vm_unmapped_area(VM_UNMAPPED_AREA_TOPDOWN): low_limit is PAGE_SIZE
	// raised to mmap_min_addr, high_limit is mmap_base.
	low := max(uint64(PageSize), m.cfg.MinAddr)
	free := m.freeRanges(low, m.cfg.MmapBase)
	for k := len(free) - 1; k >= 0; k-- {
		if free[k][1]-free[k][0] >= length {
			return free[k][1] - length, true
		}
	}
	// Fallback: arch_get_unmapped_area(), bottom-up from
	// mmap_legacy_base to TASK_SIZE.
	low = max(m.cfg.legacyBase(), m.cfg.MinAddr)
	for _, r := range m.freeRanges(low, m.cfg.TaskSize) {
		if r[1]-r[0] >= length {
			return r[0], true
		}
	}
	return 0, false
}
