package model

// Munmap mirrors munmap(2): mm/mmap.c: __vm_munmap() → mm/vma.c:
// do_vmi_munmap(). An unmapped range is not an error.
func (m *Model) Munmap(addr, length uint64) Errno {
	if !pageAligned(addr) || addr > m.cfg.TaskSize || length > m.cfg.TaskSize-addr {
		return EINVAL
	}
	end := addr + pageAlign(length)
	if end == addr {
		return EINVAL
	}
	return m.unmap(addr, end)
}

// unmap removes every VMA part inside [start, end) and its private pages
// (mm/vma.c: do_vmi_align_munmap()). Splitting one VMA into three needs a
// free map-count slot (vms_gather_munmap_vmas(): "map_count >=
// sysctl_max_map_count" fails only when the range lies strictly inside a
// single VMA); the split at the end is never checked. On error nothing
// has changed.
func (m *Model) unmap(start, end uint64) Errno {
	if start >= end {
		return 0
	}
	i := m.findNext(start)
	if i == len(m.vmas) || m.vmas[i].Start >= end {
		return 0
	}
	if v := m.vmas[i]; start > v.Start {
		if end < v.End && len(m.vmas) >= m.cfg.MaxMapCount {
			return ENOMEM
		}
		m.split(i, start)
		i++
	}
	j := i
	for j < len(m.vmas) && m.vmas[j].Start < end {
		if m.vmas[j].End > end {
			m.split(j, end)
		}
		j++
	}
	for _, v := range m.vmas[i:j] {
		if v.Flags&VMLocked != 0 {
			m.locked -= v.Pages() // vms_complete_munmap_vmas()
		}
	}
	m.vmas = append(m.vmas[:i], m.vmas[j:]...)
	m.mem.dropPrivate(start, end)
	return 0
}
