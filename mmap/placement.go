package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// Address selection for mmap and mremap: mm/mmap.c: __get_unmapped_area()
// with x86's arch_get_unmapped_area_topdown() (arch/x86/kernel/
// sys_x86_64.c) and mm/vma.c: unmapped_area_topdown() and unmapped_area(),
// as of Linux 6.18.

const pmdSize = 2 << 20 // PMD_SIZE: one leaf page table maps 2 MiB

// stackGuardGap is the default stack_guard_gap (256 pages): placement
// keeps this much free space below a MAP_GROWSDOWN VMA (mm/mmap.c).
const stackGuardGap = 256 * PageSize

// startGap is include/linux/mm.h: vm_start_gap(): where the free space a
// VMA claims begins — its start, or stack_guard_gap below the start of a
// MAP_GROWSDOWN VMA.
func startGap(v *vma.VMA) uint64 {
	if v.Flags&vma.FlagGrowsDown == 0 {
		return v.Start
	}
	if v.Start < stackGuardGap {
		return 0
	}
	return v.Start - stackGuardGap
}

// getUnmappedAreaLocked chooses the address of a new mapping of length
// bytes: addr itself for MAP_FIXED, else a free hint, else the top of the
// highest free gap below MmapBase, else the bottom of the lowest free gap
// above TASK_SIZE/3; then the checks every address passes (mm/mmap.c:
// __get_unmapped_area()). file is the mapping's backing (nil for
// anonymous memory) and flags its MAP_* flags.
//
// Preconditions: the mmap write lock is held and tx is open.
func (as *AddressSpace) getUnmappedAreaLocked(tx *vma.Txn, file Backing, addr, length uint64, flags Flag) (uint64, Errno) {
	if length > TaskSize {
		return 0, ENOMEM
	}
	if flags&MapFixed == 0 {
		var errno Errno
		if file == nil && flags&mapTypeMask == MapPrivate && addr == 0 && length%pmdSize == 0 {
			addr, errno = as.thpAreaLocked(tx, length)
		} else {
			addr, errno = as.topDownLocked(tx, addr, length)
		}
		if errno != 0 {
			return 0, errno
		}
	}
	if addr > TaskSize-length {
		return 0, ENOMEM
	}
	if addr&pgtable.PageMask != 0 {
		return 0, EINVAL
	}
	// security_mmap_addr() → cap_mmap_addr(): below mmap_min_addr needs
	// CAP_SYS_RAWIO, which a simulated process does not have.
	if addr < as.cfg.MinAddr {
		return 0, EPERM
	}
	return addr, 0
}

// thpAreaLocked places an anonymous private mapping whose length is a
// multiple of PMD_SIZE on a PMD boundary (mm/huge_memory.c:
// thp_get_unmapped_area_vmflags(), used for such mappings since Linux
// 6.7): it searches for length+PMD_SIZE and aligns inside that; if the
// padded search fails it searches again without the padding.
func (as *AddressSpace) thpAreaLocked(tx *vma.Txn, length uint64) (uint64, Errno) {
	padded := length + pmdSize
	if padded < length {
		return as.topDownLocked(tx, 0, length)
	}
	a, errno := as.topDownLocked(tx, 0, padded)
	if errno != 0 {
		return as.topDownLocked(tx, 0, length)
	}
	// __thp_get_unmapped_area(): off_sub = (0 - ret) & (PMD_SIZE-1); a
	// top-down search that is already aligned moves up a whole PMD.
	if off := (-a) & (pmdSize - 1); off != 0 {
		return a + off, 0
	}
	return a + pmdSize, 0
}

// topDownLocked is arch_get_unmapped_area_topdown() without MAP_FIXED:
// honour a free hint, else search top-down below MmapBase, else fall back
// to a bottom-up search from TASK_UNMAPPED_BASE (arch_get_unmapped_area()).
// Both searches start no lower than mmap_min_addr (vm_unmapped_area()
// raises low_limit to it since Linux 6.4).
func (as *AddressSpace) topDownLocked(tx *vma.Txn, hint, length uint64) (uint64, Errno) {
	if hint != 0 {
		// mmap_address_hint_valid(), then find_vma(): the hint must end
		// at or below the next VMA's start gap.
		hint &^= pgtable.PageMask
		if hint <= TaskSize-length {
			if next := tx.FindNext(hint); next == nil || hint+length <= startGap(next) {
				return hint, 0
			}
		}
	}
	low := max(pgtable.PageSize, as.cfg.MinAddr)
	if a, ok := as.unmappedAreaTopDownLocked(tx, length, low, as.cfg.MmapBase); ok {
		return a, 0
	}
	legacyBase := pageAlign(TaskSize / 3) // mmap_legacy_base(): TASK_UNMAPPED_BASE
	if a, ok := as.unmappedAreaLocked(tx, length, max(legacyBase, as.cfg.MinAddr), TaskSize); ok {
		return a, 0
	}
	return 0, ENOMEM
}

// unmappedAreaTopDownLocked is mm/vma.c: unmapped_area_topdown(): the
// highest a in [low, high-length] with [a, a+length) free and below the
// start gap of the VMA after it. The gap index knows nothing of stack
// guard gaps, so, as Linux does, a fit that runs into the guard gap of a
// MAP_GROWSDOWN VMA lowers high to that gap and searches again.
func (as *AddressSpace) unmappedAreaTopDownLocked(tx *vma.Txn, length, low, high uint64) (uint64, bool) {
	for {
		a, ok := tx.UnmappedArea(vma.GapRequest{Length: length, Low: low, High: high, TopDown: true})
		if !ok {
			return 0, false
		}
		next := tx.FindNext(a)
		if next == nil || startGap(next) >= a+length {
			return a, true
		}
		high = startGap(next)
	}
}

// unmappedAreaLocked is mm/vma.c: unmapped_area(): the lowest a in
// [low, high-length] with [a, a+length) free and below the start gap of
// the VMA after it; a fit that runs into a guard gap raises low past that
// VMA and searches again.
func (as *AddressSpace) unmappedAreaLocked(tx *vma.Txn, length, low, high uint64) (uint64, bool) {
	for {
		a, ok := tx.UnmappedArea(vma.GapRequest{Length: length, Low: low, High: high})
		if !ok {
			return 0, false
		}
		next := tx.FindNext(a)
		if next == nil || startGap(next) >= a+length {
			return a, true
		}
		low = next.End
	}
}
