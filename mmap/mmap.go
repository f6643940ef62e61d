package mmap

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// flagAccount is VM_ACCOUNT: set on private writable mappings (and kept
// by mprotect once set). It takes part in merging, as in Linux.
const flagAccount vma.Flags = 1 << 16

// flagMayShare is VM_MAYSHARE: the mapping was made MAP_SHARED, even of a
// read-only file (which clears VM_SHARED). /proc/pid/maps shows 's' for it.
const flagMayShare vma.Flags = 1 << 17

// flagSync is VM_SYNC (MAP_SYNC): anonymous memory accepts and keeps it,
// hidden from /proc/pid/maps but taking part in merging; a file mapping
// with it fails (see doMmap).
const flagSync vma.Flags = 1 << 18

// flagNoHuge is VM_NOHUGEPAGE, which MAP_STACK sets since Linux 6.7
// (include/linux/mman.h: calc_vm_flag_bits()). vmsim has no huge pages,
// but the flag still takes part in merging, as in Linux.
const flagNoHuge vma.Flags = 1 << 19

// Flags that only madvise sets, each a Linux VM_* flag that vmsim keeps
// for merging and for the smaps comparison (mm/madvise.c:
// madvise_vma_behavior()); VM_DONTCOPY and VM_WIPEONFORK also decide what
// Fork copies, and the others have no other effect, since vmsim has no
// core dump or huge pages.
const (
	flagDontCopy   vma.Flags = 1 << 20 // VM_DONTCOPY: MADV_DONTFORK
	flagDontDump   vma.Flags = 1 << 21 // VM_DONTDUMP: MADV_DONTDUMP
	flagWipeOnFork vma.Flags = 1 << 22 // VM_WIPEONFORK: MADV_WIPEONFORK
	flagHugepage   vma.Flags = 1 << 23 // VM_HUGEPAGE: MADV_HUGEPAGE
)

func pageAlign(n uint64) uint64 { return (n + pgtable.PageMask) &^ pgtable.PageMask }

// Mmap maps length bytes at addr (a hint, or exactly with MapFixed) with
// prot and flags, backed by file at offset or by anonymous memory, and
// returns the address of the mapping. It mirrors Linux x86-64: sys_mmap →
// ksys_mmap_pgoff → do_mmap → mmap_region, down to which errno wins.
//
// A MapFixed mapping over existing ones replaces them atomically: lockless
// readers see the old VMA or the new one, never a gap (unless
// QuirkNonAtomicFixedReplace). MapPopulate prefaults the range after the
// mapping is published, ignoring failures, as Linux does. MapLocked makes
// a VM_LOCKED mapping, counted against Config.MemlockLimit and always
// prefaulted.
func (as *AddressSpace) Mmap(addr, length uint64, prot Prot, flags Flag, file *File, offset uint64) (uint64, error) {
	return as.mmapTraced(addr, length, prot, flags, file, offset, as.sysTrack)
}

// Backing is what a mapping made with MmapBacking maps: a user-written
// implementation of the fault.Ops contract (Linux's vm_operations_struct),
// optionally with the fast path fault.PageMapper and the end-of-file check
// fault.Sizer. A Backing that also has a `Writable() bool` method is
// treated as an open file: MAP_SHARED with PROT_WRITE needs it to report
// true.
//
// A panic in a Backing method reaches the caller whose call ran it and
// leaves the address space whole (no lock, transaction, reference or RCU
// section held; Check passes): a panic in Fault, MapPages or Pages ends
// the access that faulted; one in Writable, or in the Open of the VMA an
// mmap builds, fails that mmap with nothing changed. Open of a VMA split
// or copied in the middle of a call, and Close of a VMA the call drops
// before publishing it, cannot fail in Linux, so the call completes and
// then panics with a *BackingPanic holding the backing's value. Close of
// a published VMA runs a grace period later on no caller's goroutine: its
// panic is reported by the next Check, or else by Close.
//
// Frames belong to a Memory (Config.Memory), and VMFault.Frames() is the
// faulting address space's. A backing that keeps pages between faults
// holds frames of one Memory: mapped into address spaces on one Memory,
// it may hand the same frames to all of them (as File's page cache does);
// mapped into address spaces on two, it must tell them apart by
// VMFault.Frames() and never hand one Memory's frames to the other (which
// would take them for frames it never allocated, or free ones). File
// serves one Memory at a time (an mmap from another gets ENODEV), the
// custom-driver example's device one address space. A backing that keeps
// pages should also declare them (fault.FrameCache) for Check.
type Backing = fault.Ops

// MmapBacking is Mmap with a user-written backing in place of a File (a
// device driver's mmap, in Linux terms). The flags must not include
// MapAnonymous (EINVAL); a nil b, or one holding a nil pointer, is a bad
// descriptor (EBADF), as for Mmap. Its Fault allocates pages from
// VMFault.Frames(): the physical memory (Config.Memory) of the faulting
// address space (see Backing for what that means for a backing mapped
// into address spaces on two Memories).
func (as *AddressSpace) MmapBacking(addr, length uint64, prot Prot, flags Flag, b Backing, offset uint64) (uint64, error) {
	return as.mmapBackingTraced(addr, length, prot, flags, b, offset, as.sysTrack)
}

func (as *AddressSpace) mmapBackingTraced(addr, length uint64, prot Prot, flags Flag, b Backing, offset uint64, tb *trace.Buffer) (uint64, error) {
	if flags&MapAnonymous != 0 {
		return 0, EINVAL
	}
	if backingOf(b) == nil {
		return 0, EBADF
	}
	return as.mmapTraced(addr, length, prot, flags, b, offset, tb)
}

// backingOf returns b, or nil if b is nil or holds a nil pointer (a nil
// *File, or a nil pointer of a user's backing type): such a value is no
// backing at all, and must never reach a VMA as a non-nil interface. Every
// entry point of mmap passes its file through here (in mmapTraced).
func backingOf(b Backing) Backing {
	switch x := b.(type) {
	case nil:
		return nil
	case *File:
		if x == nil {
			return nil
		}
		return b
	}
	if v := reflect.ValueOf(b); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return b
}

// writable reports whether b is open for writing: a File's open mode, or
// true for a backing that does not say.
func writable(b Backing) bool {
	if w, ok := b.(interface{ Writable() bool }); ok {
		return w.Writable()
	}
	return true
}

func (as *AddressSpace) mmapTraced(addr, length uint64, prot Prot, flags Flag, file Backing, offset uint64, tb *trace.Buffer) (uint64, error) {
	file = backingOf(file)
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "mmap", Addr: addr, Len: length,
			Arg: fmt.Sprintf("%#x, %#x, %s, %s, off=%#x", addr, length, Prot(prot), flags, offset)})
	}
	got, err := as.doMmap(addr, length, prot, flags, file, offset, tb)
	// mm/mmap.c: do_mmap() populates a VM_LOCKED mapping, and
	// MAP_POPULATE without MAP_NONBLOCK.
	if err == nil && (flags&MapLocked != 0 || flags&(MapPopulate|MapNonBlock) == MapPopulate) {
		as.populate(got, pageAlign(length), prot, flags&mapTypeMask == MapPrivate)
	}
	traceEnd(tb, "mmap", got, err)
	return got, err
}

func traceEnd(tb *trace.Buffer, name string, v uint64, err error) {
	if tb == nil {
		return
	}
	e := trace.Event{Kind: trace.SyscallEnd, Name: name, Value: v}
	if err != nil {
		e.Err = err.Error()
	}
	tb.Emit(e)
}

func (as *AddressSpace) doMmap(addr, length uint64, prot Prot, flags Flag, file Backing, offset uint64, tb *trace.Buffer) (uint64, error) {
	// arch/x86/kernel/sys_x86_64.c: sys_mmap.
	if offset&pgtable.PageMask != 0 {
		return 0, EINVAL
	}
	// mm/mmap.c: ksys_mmap_pgoff. The fd is looked up only without
	// MAP_ANONYMOUS; an anonymous mapping ignores it.
	if flags&MapAnonymous != 0 {
		file = nil
	} else if file == nil {
		return 0, EBADF
	}
	if flags&MapHugeTLB != 0 {
		return 0, EINVAL // no hugetlbfs here (ksys_mmap_pgoff: not a hugetlb file)
	}
	pgoff := offset >> pgtable.PageShift

	// mm/mmap.c: do_mmap.
	if length == 0 {
		return 0, EINVAL
	}
	if flags&MapFixedNoreplace != 0 {
		flags |= MapFixed
	}
	if flags&MapFixed == 0 {
		addr = as.roundHintToMin(addr)
	}
	length = pageAlign(length)
	if length == 0 {
		return 0, ENOMEM
	}
	if pgoff+length>>pgtable.PageShift < pgoff {
		return 0, EOVERFLOW
	}

	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return 0, ErrClosed
	}
	c := as.beginLocked("mmap", tb)
	if c.tx.Len() > as.cfg.MaxMapCount {
		c.abortLocked()
		return 0, ENOMEM
	}
	addr, errno := as.getUnmappedAreaLocked(c.tx, file, addr, length, flags)
	if errno != 0 {
		c.abortLocked()
		return 0, errno
	}
	if flags&MapFixedNoreplace != 0 && overlaps(c.tx, addr, addr+length) {
		c.abortLocked()
		return 0, EEXIST
	}
	// do_mmap(): the mlock checks come right after placement, before
	// any check of the mapping type or the file. mlock_future_ok()
	// counts what a MAP_FIXED is about to replace too.
	if flags&MapLocked != 0 && !as.canDoMlock() {
		c.abortLocked()
		return 0, EPERM
	}
	if flags&MapLocked != 0 && !as.mlockFutureOKLocked(flagLocked, length) {
		c.abortLocked()
		return 0, EAGAIN
	}

	// include/linux/mman.h: calc_vm_flag_bits(), computed from the flags
	// as given, before MAP_SHARED drops the ones it does not know.
	vmFlags := vma.FlagMayWrite
	if flags&MapGrowsDown != 0 {
		vmFlags |= vma.FlagGrowsDown
	}
	if flags&MapSync != 0 {
		vmFlags |= flagSync
	}
	if flags&MapStack != 0 {
		vmFlags |= flagNoHuge
	}
	if flags&MapNoReserve != 0 {
		vmFlags |= vma.FlagNoReserve
	}
	if flags&MapLocked != 0 {
		vmFlags |= flagLocked
	}
	var backing vma.Backing
	if file != nil {
		// mm/mmap.c: file_mmap_ok(): a regular file's offsets end at
		// MAX_LFS_FILESIZE.
		const maxLFS = 1<<63 - 1
		if pgoff > (maxLFS-length)>>pgtable.PageShift {
			c.abortLocked()
			return 0, EOVERFLOW
		}
		switch flags & mapTypeMask {
		case MapShared, MapSharedValidate:
			if flags&mapTypeMask == MapShared {
				flags &= legacyMapMask
			}
			// A File behaves like a file of ext4 or xfs, whose
			// FOP_MMAP_SYNC adds MAP_SYNC to the flags MAP_SHARED_VALIDATE
			// accepts; the mapping then fails in mmapRegion below.
			if flags&^(legacyMapMask|MapSync) != 0 {
				c.abortLocked()
				return 0, EOPNOTSUPP
			}
			if prot&ProtWrite != 0 && !writable(file) {
				c.abortLocked()
				return 0, EACCES
			}
			vmFlags |= vma.FlagShared | flagMayShare
			if !writable(file) {
				vmFlags &^= vma.FlagMayWrite | vma.FlagShared
			}
			fallthrough
		case MapPrivate:
			if vmFlags&vma.FlagGrowsDown != 0 {
				c.abortLocked()
				return 0, EINVAL
			}
		default:
			c.abortLocked()
			return 0, EINVAL
		}
		backing = file
	} else {
		switch flags & mapTypeMask {
		case MapShared:
			if vmFlags&vma.FlagGrowsDown != 0 {
				c.abortLocked()
				return 0, EINVAL
			}
			vmFlags |= vma.FlagShared | flagMayShare | vma.FlagAnonymous
			pgoff = 0
			shm := fault.NewShmem(length)
			if err := shm.Bind(as.frames); err != nil {
				c.abortLocked()
				return 0, ENODEV
			}
			if err := shm.BindSched(as.cfg.Sched); err != nil {
				c.abortLocked()
				return 0, ENODEV
			}
			backing = shm
		case MapPrivate:
			vmFlags |= vma.FlagAnonymous
			pgoff = addr >> pgtable.PageShift
		default:
			c.abortLocked()
			return 0, EINVAL
		}
	}
	// mm/mmap.c: accountable_mapping — private writable memory is
	// committed unless MAP_NORESERVE.
	if prot&ProtWrite != 0 && vmFlags&(vma.FlagShared|vma.FlagNoReserve) == 0 {
		vmFlags |= flagAccount
	}

	// mm/vma.c: __mmap_region. Refuse before touching anything if the
	// unmap of a MAP_FIXED would split a VMA past the map-count limit.
	if splitsOverLimit(c.tx, addr, addr+length, as.cfg.MaxMapCount) {
		c.abortLocked()
		return 0, ENOMEM
	}
	if file != nil && vmFlags&flagSync != 0 {
		// mm/vma.c: __mmap_region() → call_mmap_prepare(): the
		// filesystem refuses VM_SYNC without DAX
		// (ext4_file_mmap_prepare(): daxdev_mapping_supported()). It
		// runs after vms_clean_up_area() zapped the old range, and
		// vms_abort_munmap_vmas() then completes the munmap: a failed
		// MAP_FIXED|MAP_SYNC leaves a hole where the old mappings were.
		c.unmapLocked(addr, addr+length)
		c.finishLocked()
		as.mm.Table.FreeEmpty(addr, addr+length)
		return 0, EOPNOTSUPP
	}
	if file != nil {
		if errno := as.bindLocked(file); errno != 0 {
			c.abortLocked()
			return 0, errno
		}
	}
	nv := as.newVMA(addr, addr+length, prot, vmFlags, pgoff, backing)
	c.unmapLocked(addr, addr+length)
	c.flushLocked()
	c.insertMergedLocked(nv)
	as.lockLocked(vmFlags, length) // __mmap_complete(): mm->locked_vm += len
	c.finishLocked()
	as.stats.mmaps.Add(1)
	return addr, nil
}

// bindLocked binds a file being mapped to this address space's Sched and
// physical memory (ENODEV if another holds it), and registers its
// truncation hook at once, so that Close releases the binding even if the
// call then fails by a panic. doMmap calls it after every check that can
// fail: a failed mmap must leave the file free for other address spaces.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) bindLocked(file Backing) Errno {
	// Check the Sched first, bind it last: a failed call changes
	// nothing.
	sb, bindSched := file.(interface {
		CheckSched(*sched.Sched) error
		BindSched(*sched.Sched) error
	})
	if bindSched && sb.CheckSched(as.cfg.Sched) != nil {
		return ENODEV
	}
	if b, ok := file.(interface{ Bind(*pgtable.Frames) error }); ok {
		if err := b.Bind(as.frames); err != nil {
			return ENODEV
		}
	}
	if bindSched && sb.BindSched(as.cfg.Sched) != nil {
		return ENODEV // another run bound it since the check: only a concurrent mmap elsewhere can
	}
	if f, ok := file.(*File); ok {
		as.watchFileLocked(f)
	}
	return 0
}

// roundHintToMin mirrors mm/mmap.c: round_hint_to_min.
func (as *AddressSpace) roundHintToMin(hint uint64) uint64 {
	hint &^= pgtable.PageMask
	if hint != 0 && hint < as.cfg.MinAddr {
		return pageAlign(as.cfg.MinAddr)
	}
	return hint
}

// overlaps reports whether any VMA intersects [start, end)
// (find_vma_intersection).
func overlaps(tx *vma.Txn, start, end uint64) bool {
	v := tx.FindNext(start)
	return v != nil && v.Start < end
}

// splitsOverLimit reports whether unmapping [start, end) would split one
// VMA in two while the map count is at its limit (mm/vma.c:
// vms_gather_munmap_vmas).
func splitsOverLimit(tx *vma.Txn, start, end uint64, limit int) bool {
	v := tx.Find(start)
	return v != nil && v.Start < start && end < v.End && tx.Len() >= limit
}

// populate prefaults [addr, addr+length) as MAP_POPULATE does
// (mm/gup.c: __mm_populate → populate_vma_page_range): write faults for
// private writable mappings ("(vm_flags & (VM_WRITE | VM_SHARED)) ==
// VM_WRITE": FOLL_WRITE breaks copy-on-write), read faults otherwise,
// nothing for PROT_NONE. A failed fault ends the population of its VMA,
// and the walk goes on at the next one (__mm_populate with
// ignore_errors), so a populate costs what it maps, not the length asked.
func (as *AddressSpace) populate(addr, length uint64, prot Prot, private bool) {
	if prot&(ProtRead|ProtWrite|ProtExec) == 0 {
		return
	}
	t := as.NewThread()
	defer t.Close()
	write := private && prot&ProtWrite != 0
	for a, end := addr, addr+length; a < end; {
		switch err := t.Fault(a, write); {
		case err == nil:
			a += PageSize
		case errors.Is(err, ErrClosed):
			return
		default:
			a = as.nextVMAStart(a)
		}
	}
}

// nextVMAStart returns where a populate that failed at addr goes on: the
// start of the first VMA above the one containing addr (or above addr,
// if none contains it: it was unmapped meanwhile), or the end of the
// address space.
func (as *AddressSpace) nextVMAStart(addr uint64) uint64 {
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	snap := as.mm.Tree.Snapshot()
	if v := snap.Find(addr); v != nil {
		addr = v.End
	}
	if v := snap.FindNext(addr); v != nil {
		return max(v.Start, addr)
	}
	return TaskSize
}

// String returns the flags as "MAP_PRIVATE|MAP_ANONYMOUS|…".
func (f Flag) String() string {
	names := []struct {
		f Flag
		n string
	}{
		{MapFixed, "MAP_FIXED"}, {MapAnonymous, "MAP_ANONYMOUS"}, {MapGrowsDown, "MAP_GROWSDOWN"}, {MapLocked, "MAP_LOCKED"},
		{MapNoReserve, "MAP_NORESERVE"}, {MapPopulate, "MAP_POPULATE"}, {MapNonBlock, "MAP_NONBLOCK"},
		{MapFixedNoreplace, "MAP_FIXED_NOREPLACE"},
	}
	var s string
	switch f & mapTypeMask {
	case MapShared:
		s = "MAP_SHARED"
	case MapPrivate:
		s = "MAP_PRIVATE"
	case MapSharedValidate:
		s = "MAP_SHARED_VALIDATE"
	default:
		s = fmt.Sprintf("MAP_TYPE(%#x)", uint32(f&mapTypeMask))
	}
	rest := f &^ mapTypeMask
	for _, n := range names {
		if rest&n.f != 0 {
			s += "|" + n.n
			rest &^= n.f
		}
	}
	if rest != 0 {
		s += fmt.Sprintf("|%#x", uint32(rest))
	}
	return s
}

// BackingPanic is what a call panics with when a Backing panicked in Open
// or Close while the call was changing the address space (see Backing);
// Check reports one raised by a Close that ran after a grace period.
type BackingPanic = vma.BackingPanic

// ContractError is the error an access returns when the backing of the
// mapping broke its contract (see fault.ContractError).
type ContractError = fault.ContractError
