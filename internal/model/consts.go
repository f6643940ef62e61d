package model

// PageSize is the x86-64 base page size. The model has no huge pages.
const PageSize = 4096

// Protection bits for mmap and mprotect (include/uapi/asm-generic/mman-common.h).
const (
	ProtNone      uint32 = 0x0
	ProtRead      uint32 = 0x1
	ProtWrite     uint32 = 0x2
	ProtExec      uint32 = 0x4
	ProtSem       uint32 = 0x8        // accepted by mprotect and ignored (arch_validate_prot)
	ProtGrowsDown uint32 = 0x01000000 // mprotect only: extend the change down to the start of a MAP_GROWSDOWN VMA
	ProtGrowsUp   uint32 = 0x02000000 // mprotect only: always EINVAL on x86 (no VM_GROWSUP)

	protAccess = ProtRead | ProtWrite | ProtExec
)

// mmap flags, x86-64 values (include/uapi/linux/mman.h, asm-generic/mman.h).
const (
	MapShared         uint32 = 0x01
	MapPrivate        uint32 = 0x02
	MapSharedValidate uint32 = 0x03
	MapType           uint32 = 0x0f // the mapping-type field
	MapFixed          uint32 = 0x10
	MapAnonymous      uint32 = 0x20
	MapGrowsDown      uint32 = 0x100
	MapDenyWrite      uint32 = 0x800 // ignored by Linux
	MapExecutable     uint32 = 0x1000
	MapLocked         uint32 = 0x2000 // sets VMLocked, counted against MemlockLimit, populates
	MapNoReserve      uint32 = 0x4000
	MapPopulate       uint32 = 0x8000
	MapNonBlock       uint32 = 0x10000
	MapStack          uint32 = 0x20000 // sets VMNoHuge
	MapHugeTLB        uint32 = 0x40000 // accepted, not modelled
	MapSync           uint32 = 0x80000 // sets VMSync; a file mapping fails with EOPNOTSUPP (see Mmap)
	MapFixedNoreplace uint32 = 0x100000
	MapUninitialized  uint32 = 0x4000000
	mapHuge2MB        uint32 = 21 << 26
	mapHuge1GB        uint32 = 30 << 26
	map32Bit          uint32 = 0x40
	mapAbove4G        uint32 = 0x80

	// legacyMapMask is include/linux/mman.h: LEGACY_MAP_MASK, the flags a
	// MAP_SHARED_VALIDATE mapping of an ordinary file accepts. Note that
	// MAP_FIXED_NOREPLACE is not in it: Linux answers
	// MAP_SHARED_VALIDATE|MAP_FIXED_NOREPLACE on a file with EOPNOTSUPP.
	legacyMapMask = MapShared | MapPrivate | MapFixed | MapAnonymous | MapDenyWrite |
		MapExecutable | MapUninitialized | MapGrowsDown | MapLocked | MapNoReserve |
		MapPopulate | MapNonBlock | MapStack | MapHugeTLB | map32Bit | mapAbove4G |
		mapHuge2MB | mapHuge1GB
)

// mremap flags (include/uapi/linux/mman.h).
const (
	MremapMaymove   uint32 = 1
	MremapFixed     uint32 = 2
	MremapDontunmap uint32 = 4
)

// madvise advice values the model implements (asm-generic/mman-common.h).
// Every other value, including advice Linux accepts but the model does not
// implement (MADV_REMOVE, MADV_MERGEABLE, MADV_COLLAPSE, MADV_GUARD_INSTALL,
// ...), is EINVAL (see doc.go).
const (
	MadvNormal        = 0
	MadvRandom        = 1
	MadvSequential    = 2
	MadvWillneed      = 3
	MadvDontneed      = 4
	MadvFree          = 8
	MadvDontfork      = 10 // sets VMDontCopy
	MadvDofork        = 11 // clears VMDontCopy
	MadvHugepage      = 14 // sets VMHugepage, clears VMNoHuge
	MadvNohugepage    = 15 // sets VMNoHuge, clears VMHugepage
	MadvDontdump      = 16 // sets VMDontDump
	MadvDodump        = 17 // clears VMDontDump
	MadvWipeonfork    = 18 // sets VMWipeOnFork; private anonymous memory only
	MadvKeeponfork    = 19 // clears VMWipeOnFork
	MadvCold          = 20 // no LRU in the model: accepted, no effect
	MadvPageout       = 21 // no reclaim in the model: accepted, no effect
	MadvPopulateRead  = 22 // read-fault every page; stops at the first failure
	MadvPopulateWrite = 23 // write-fault every page; stops at the first failure
)

// VMA.Flags bits: the hidden vm_flags that decide merging, with their
// Linux VM_* values (include/linux/mm.h) and /proc/pid/smaps mnemonics.
const (
	VMGrowsDown uint32 = 0x00000100 // VM_GROWSDOWN "gd": MAP_GROWSDOWN
	VMLocked    uint32 = 0x00002000 // VM_LOCKED "lo": MAP_LOCKED
	VMSeqRead   uint32 = 0x00008000 // VM_SEQ_READ "sr": MADV_SEQUENTIAL
	VMRandRead  uint32 = 0x00010000 // VM_RAND_READ "rr": MADV_RANDOM
	VMAccount   uint32 = 0x00100000 // VM_ACCOUNT "ac": private writable memory charged to the commit limit
	VMNoReserve uint32 = 0x00200000 // VM_NORESERVE "nr": MAP_NORESERVE
	VMSync      uint32 = 0x00800000 // VM_SYNC "sf": MAP_SYNC (anonymous memory accepts and keeps it)
	VMNoHuge    uint32 = 0x40000000 // VM_NOHUGEPAGE "nh": MAP_STACK (Linux 6.7+), MADV_NOHUGEPAGE

	VMDontCopy   uint32 = 0x00020000 // VM_DONTCOPY "dc": MADV_DONTFORK
	VMWipeOnFork uint32 = 0x02000000 // VM_WIPEONFORK "wf": MADV_WIPEONFORK
	VMDontDump   uint32 = 0x04000000 // VM_DONTDUMP "dd": MADV_DONTDUMP
	VMHugepage   uint32 = 0x20000000 // VM_HUGEPAGE "hg": MADV_HUGEPAGE
)

// StackGuardGap is the kernel's default stack_guard_gap (256 pages): the
// placement code keeps this much space free below a MAP_GROWSDOWN VMA
// (mm/mmap.c: vm_start_gap()).
const StackGuardGap = 256 * PageSize
