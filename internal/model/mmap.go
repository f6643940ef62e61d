package model

// Mmap mirrors mmap(2) on x86-64 Linux 6.18: arch/x86/kernel/sys_x86_64.c:
// sys_mmap() → mm/mmap.c: ksys_mmap_pgoff() → do_mmap() →
// mm/vma.c: mmap_region(). f is the file for a file mapping and is ignored
// with MapAnonymous (Linux ignores the fd then); a nil f without
// MapAnonymous is a bad file descriptor. It returns the mapping's address.
//
// The checks run in the kernel's order, so the first error Linux would
// report is the one returned; a failed Mmap changes nothing.
func (m *Model) Mmap(addr, length uint64, prot, flags uint32, f *File, offset uint64) (uint64, Errno) {
	// sys_mmap(): the offset must be page-aligned.
	if !pageAligned(offset) {
		return 0, EINVAL
	}
	// ksys_mmap_pgoff(): fget(fd) fails.
	if flags&MapAnonymous != 0 {
		f = nil
	} else if f == nil {
		return 0, EBADF
	}
	pgoff := offset / PageSize

	// do_mmap() from here on.
	if length == 0 {
		return 0, EINVAL
	}
	if flags&MapFixedNoreplace != 0 {
		flags |= MapFixed
	}
	fixed := flags&MapFixed != 0
	if !fixed {
		addr = m.roundHintToMin(addr)
	}
	length = pageAlign(length)
	if length == 0 { // the length overflowed when rounded up
		return 0, ENOMEM
	}
	if pgoff+length/PageSize < pgoff {
		return 0, EOVERFLOW
	}
	if len(m.vmas) > m.cfg.MaxMapCount {
		return 0, ENOMEM
	}
	addr, err := m.getUnmappedArea(addr, length, fixed)
	if err != 0 {
		return 0, err
	}
	if flags&MapFixedNoreplace != 0 && m.intersects(addr, addr+length) {
		return 0, EEXIST
	}
	// The mlock checks, before any check of the type or the file:
	// can_do_mlock() needs a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK, and
	// mlock_future_ok() adds the length to mm->locked_vm as it is, with
	// whatever a MAP_FIXED would replace still counted.
	if flags&MapLocked != 0 && m.cfg.MemlockLimit < 0 {
		return 0, EPERM
	}
	if flags&MapLocked != 0 && !m.mlockFutureOK(VMLocked, length) {
		return 0, EAGAIN
	}

	v := VMA{Start: addr, End: addr + length, Prot: prot & protAccess, Anon: f == nil, File: f}
	// calc_vm_flag_bits(), computed before MAP_SHARED drops unknown flags.
	if flags&MapGrowsDown != 0 {
		v.Flags |= VMGrowsDown
	}
	if flags&MapSync != 0 {
		v.Flags |= VMSync
	}
	if flags&MapStack != 0 {
		v.Flags |= VMNoHuge
	}
	if flags&MapLocked != 0 {
		v.Flags |= VMLocked
	}
	if f != nil {
		// file_mmap_ok(): a regular file's offsets end at MAX_LFS_FILESIZE.
		const maxLFS = 1<<63 - 1
		if pgoff > (maxLFS-length)/PageSize {
			return 0, EOVERFLOW
		}
		switch flags & MapType {
		case MapShared, MapSharedValidate:
			if flags&MapType == MapShared {
				flags &= legacyMapMask // unknown flags are ignored with MAP_SHARED
			}
			// The file's filesystem (FOP_MMAP_SYNC, like ext4 or xfs)
			// adds MAP_SYNC to the accepted flags.
			if flags&^(legacyMapMask|MapSync) != 0 {
				return 0, EOPNOTSUPP
			}
			if prot&ProtWrite != 0 && !f.Writable {
				return 0, EACCES
			}
			v.Shared = true
		case MapPrivate:
		default:
			return 0, EINVAL
		}
		if v.Flags&VMGrowsDown != 0 {
			return 0, EINVAL
		}
		v.Pgoff = pgoff
	} else {
		switch flags & MapType {
		case MapShared:
			if v.Flags&VMGrowsDown != 0 {
				return 0, EINVAL
			}
			v.Shared = true // the shmem object is made below; pgoff is ignored
		case MapPrivate:
			v.Pgoff = addr / PageSize // "set pgoff according to addr for anon_vma"
		default:
			// Includes MAP_SHARED_VALIDATE (anonymous memory has no
			// mmap_validate) and MAP_DROPPABLE, which the model omits.
			return 0, EINVAL
		}
	}
	if flags&MapNoReserve != 0 {
		v.Flags |= VMNoReserve
	}
	// mm/vma.c: accountable_mapping(): private writable memory without
	// VM_NORESERVE is charged and carries VM_ACCOUNT.
	if v.Prot&ProtWrite != 0 && !v.VMShared() && v.Flags&VMNoReserve == 0 {
		v.Flags |= VMAccount
	}
	return m.mmapRegion(v, flags)
}

// roundHintToMin is mm/mmap.c: round_hint_to_min(): a non-zero hint below
// mmap_min_addr is raised to it.
func (m *Model) roundHintToMin(hint uint64) uint64 {
	hint &^= PageSize - 1
	if hint != 0 && hint < m.cfg.MinAddr {
		return pageAlign(m.cfg.MinAddr)
	}
	return hint
}

// mmapRegion is mm/vma.c: __mmap_region(): unmap whatever the range
// overlaps, then merge with the neighbours or insert a new VMA.
func (m *Model) mmapRegion(v VMA, flags uint32) (uint64, Errno) {
	// __mmap_setup() → vms_gather_munmap_vmas(): the map-count check for
	// splitting a VMA in three applies before anything changes.
	if err := m.unmap(v.Start, v.End); err != 0 {
		return 0, err
	}
	// call_mmap_prepare(): the filesystem's mmap_prepare refuses VM_SYNC
	// without DAX (ext4_file_mmap_prepare(): daxdev_mapping_supported()).
	// It runs after vms_clean_up_area() has zapped the old range, so the
	// abort (vms_abort_munmap_vmas()) completes the munmap: a failed
	// MAP_FIXED leaves a hole where the old mappings were.
	if v.File != nil && v.Flags&VMSync != 0 {
		return 0, EOPNOTSUPP
	}
	var i int
	if v.Shared && v.Anon {
		// A new shmem file never equals a neighbour's vm_file, so shared
		// anonymous mappings never merge on creation (the merge attempt
		// in __mmap_region() even runs before shmem_zero_setup()).
		m.ids.shm++
		v.Shm = m.ids.shm
		m.mem.objs[objKey{id: v.Shm}] = &object{pages: map[uint64]*page{}, size: v.End - v.Start}
		i = m.insert(v)
	} else {
		i = m.mergeNew(v, false)
	}
	m.account(v.Flags, v.End-v.Start) // __mmap_complete()
	// do_mmap(): a VM_LOCKED mapping is populated, and so is a
	// MAP_POPULATE one unless MAP_NONBLOCK is set too.
	if v.Flags&VMLocked != 0 || flags&(MapPopulate|MapNonBlock) == MapPopulate {
		m.populate(i, v.Start, v.End)
	}
	return v.Start, 0
}
