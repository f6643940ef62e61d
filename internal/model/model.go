package model

import (
	"fmt"
	"slices"
)

// Config sets the address-space limits. Zero fields take Linux's x86-64
// defaults, as a process without ASLR sees them.
//
// Config is a plain value: safe to copy.
type Config struct {
	// TaskSize is the end of user space: 0x7ffffffff000 (47 bits less a
	// guard page, arch/x86/include/asm/page_64_types.h: TASK_SIZE_MAX).
	TaskSize uint64
	// MmapBase is where top-down placement starts. Default: what
	// arch/x86/mm/mmap.c: mmap_base() gives without randomisation for an
	// 8 MiB stack rlimit: the gap below TaskSize is clamped up to 128 MiB,
	// so MmapBase = TaskSize - 128 MiB = 0x7ffff7fff000.
	MmapBase uint64
	// MinAddr is vm.mmap_min_addr: MAP_FIXED below it is EPERM (for an
	// unprivileged process), hints below it are raised to it, and
	// placement never goes below it. Default 65536.
	MinAddr uint64
	// MaxMapCount is vm.max_map_count. Default 65530.
	MaxMapCount int
	// StackLimit is RLIMIT_STACK: a MAP_GROWSDOWN VMA may not grow
	// beyond it. Default 8 MiB.
	StackLimit uint64
	// MemlockLimit is RLIMIT_MEMLOCK in bytes: the pages of all VMLocked
	// VMAs together (mm->locked_vm) may not exceed it. 0 means no limit,
	// as for a process with CAP_IPC_LOCK; a negative value is a limit of
	// 0 without CAP_IPC_LOCK, which makes MAP_LOCKED fail with EPERM
	// (mm/mlock.c: can_do_mlock()).
	MemlockLimit int64
}

// Linux x86-64 defaults.
const (
	DefaultTaskSize    uint64 = 0x7ffffffff000
	DefaultMinAddr     uint64 = 65536
	DefaultMaxMapCount        = 65530
	DefaultStackLimit  uint64 = 8 << 20
	mmapGapMin         uint64 = 128 << 20
)

func (c Config) withDefaults() Config {
	if c.TaskSize == 0 {
		c.TaskSize = DefaultTaskSize
	}
	if c.MmapBase == 0 {
		// arch/x86/mm/mmap.c: mmap_base(): gap = stack rlimit + guard,
		// clamped to [128 MiB, TASK_SIZE/6*5].
		gap := mmapGapMin
		if maxGap := c.TaskSize / 6 * 5; gap > maxGap {
			gap = maxGap
		}
		c.MmapBase = pageAlign(c.TaskSize - gap)
	}
	if c.MinAddr == 0 {
		c.MinAddr = DefaultMinAddr
	}
	if c.MaxMapCount == 0 {
		c.MaxMapCount = DefaultMaxMapCount
	}
	if c.StackLimit == 0 {
		c.StackLimit = DefaultStackLimit
	}
	return c
}

// legacyBase is where the bottom-up fallback search starts:
// arch/x86/mm/mmap.c: mmap_legacy_base() = PAGE_ALIGN(TASK_SIZE / 3).
func (c Config) legacyBase() uint64 { return pageAlign(c.TaskSize / 3) }

// File stands for an open file description (struct file) of a regular
// file. The model compares *File pointers where Linux compares vm_file
// (two opens of one file never merge) and keys page contents by ID (the
// inode: two Files with one ID share a page cache).
//
// The model only reads a File: one File may be shared by several Models
// and goroutines, as long as nobody changes its fields while a Model maps
// it.
type File struct {
	ID       int    // identity of the underlying file (inode)
	Writable bool   // opened O_RDWR (FMODE_WRITE); every File is readable
	Size     uint64 // file size in bytes; pages at or beyond PAGE_ALIGN(Size) raise SIGBUS
}

// VMA is one virtual memory area, as /proc/pid/maps and the hidden
// vm_flags that decide merging describe it.
//
// VMA is a plain value: VMAs returns copies.
type VMA struct {
	Start, End uint64
	Prot       uint32 // ProtRead|ProtWrite|ProtExec
	Shared     bool   // VM_MAYSHARE: 's' in /proc/pid/maps
	Anon       bool   // anonymous memory (private, or shared = shmem)
	File       *File  // the mapped file; nil for anonymous memory
	// Shm identifies the shmem object behind a shared anonymous mapping
	// (each mmap makes a new one, mm/shmem.c: shmem_zero_setup()); 0
	// otherwise. Splits of one object can merge again; two objects never.
	Shm   int
	Pgoff uint64 // vm_pgoff, in pages: the file offset, or for private anonymous memory the creation address >> 12
	Flags uint32 // VMGrowsDown | VMLocked | VMSeqRead | VMRandRead | VMAccount | VMNoReserve | VMSync | VMNoHuge | VMHugepage | VMDontCopy | VMDontDump | VMWipeOnFork
	// AnonID is the identity of the VMA's anon_vma; 0 = none yet. Private
	// mappings get one on their first write fault (mm/rmap.c:
	// __anon_vma_prepare()), possibly shared with a compatible neighbour.
	AnonID int
	// Forked reports that the anon_vma chain holds a parent's anon_vma
	// besides AnonID: the VMA was copied by Fork from one that had an
	// anon_vma (mm/vma.c: vma_is_fork_child()). Such a VMA shares its
	// anon_vma with no neighbour that has none.
	Forked bool
}

// Pages returns the VMA's length in pages.
func (v VMA) Pages() uint64 { return (v.End - v.Start) / PageSize }

// VMShared reports VM_SHARED: writes reach the backing object. A shared
// mapping of a read-only file has VM_MAYSHARE but not VM_SHARED
// (mm/mmap.c: do_mmap()).
func (v VMA) VMShared() bool { return v.Shared && (v.File == nil || v.File.Writable) }

// MayWrite reports VM_MAYWRITE: whether mprotect may add PROT_WRITE.
func (v VMA) MayWrite() bool { return !(v.Shared && v.File != nil && !v.File.Writable) }

// Perms formats the permission field of /proc/pid/maps, e.g. "rw-p".
func (v VMA) Perms() string {
	b := []byte("---p")
	if v.Prot&ProtRead != 0 {
		b[0] = 'r'
	}
	if v.Prot&ProtWrite != 0 {
		b[1] = 'w'
	}
	if v.Prot&ProtExec != 0 {
		b[2] = 'x'
	}
	if v.Shared {
		b[3] = 's'
	}
	return string(b)
}

// String formats v like a /proc/pid/maps line plus the hidden state.
func (v VMA) String() string {
	backing := "anon"
	switch {
	case v.File != nil:
		backing = fmt.Sprintf("file%d", v.File.ID)
	case v.Shm != 0:
		backing = fmt.Sprintf("shm%d", v.Shm)
	}
	forked := ""
	if v.Forked {
		forked = " forked"
	}
	return fmt.Sprintf("%x-%x %s %s pgoff=%#x flags=%#x anon_vma=%d%s", v.Start, v.End, v.Perms(), backing, v.Pgoff, v.Flags, v.AnonID, forked)
}

// isAnonymous is mm.h: vma_is_anonymous(): private anonymous memory (no
// vm_ops). Shared anonymous memory has shmem's vm_ops.
func (v *VMA) isAnonymous() bool { return v.File == nil && v.Shm == 0 }

// Model is the sequential reference model of one process's address space:
// a sorted slice of VMAs plus page contents.
//
// A Model is not safe for concurrent use; its methods must be serialised
// by the caller. It never panics on bad arguments: every syscall method
// returns the errno Linux would.
type Model struct {
	cfg Config // immutable after New
	// The fields below are owned by the Model and guarded by the caller's
	// serialisation of its methods.
	vmas []VMA // sorted by Start, non-overlapping
	// ids allocates anon_vma and shmem identities, shared by the models
	// of one family of forks (and their clones), whose contents share
	// the shmem objects.
	ids *idAlloc
	mem contents
	// locked is mm->locked_vm in pages: raised when a VMLocked VMA is
	// made or grows, lowered when one is unmapped. It can exceed the
	// VMLocked pages, as in Linux (see moveVMA).
	locked uint64
}

// New returns an empty address space.
func New(cfg Config) *Model {
	return &Model{cfg: cfg.withDefaults(), ids: new(idAlloc), mem: newContents()}
}

// idAlloc hands out anon_vma and shmem identities.
type idAlloc struct{ anon, shm int }

// Config returns the configuration with defaults filled in.
func (m *Model) Config() Config { return m.cfg }

// VMAs returns a copy of the VMAs in address order.
func (m *Model) VMAs() []VMA { return slices.Clone(m.vmas) }

// Clone returns an independent deep copy of m (VMAs and contents). Files
// are shared: they are immutable.
func (m *Model) Clone() *Model {
	c := *m
	c.vmas = slices.Clone(m.vmas)
	c.mem = m.mem.clone()
	return &c
}

func pageAlign(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }

func pageAligned(n uint64) bool { return n%PageSize == 0 }

// find returns the index of the VMA containing addr, or -1
// (mm.h: vma_lookup()).
func (m *Model) find(addr uint64) int {
	i := m.findNext(addr)
	if i < len(m.vmas) && m.vmas[i].Start <= addr {
		return i
	}
	return -1
}

// findNext returns the index of the first VMA ending after addr, or
// len(m.vmas) (mm/mmap.c: find_vma()).
func (m *Model) findNext(addr uint64) int {
	i, _ := slices.BinarySearchFunc(m.vmas, addr, func(v VMA, a uint64) int {
		if v.End <= a {
			return -1
		}
		return 1
	})
	return i
}

// intersects reports whether any VMA overlaps [start, end)
// (find_vma_intersection()).
func (m *Model) intersects(start, end uint64) bool {
	i := m.findNext(start)
	return i < len(m.vmas) && m.vmas[i].Start < end
}

// split cuts vmas[i] at addr (strictly inside it) into two VMAs with the
// same attributes and anon_vma (mm/vma.c: __split_vma()). The map-count
// check is the caller's.
func (m *Model) split(i int, addr uint64) {
	lo := m.vmas[i]
	hi := lo
	lo.End = addr
	hi.Start = addr
	hi.Pgoff += (addr - lo.Start) / PageSize
	m.vmas[i] = lo
	m.vmas = slices.Insert(m.vmas, i+1, hi)
}

// insert adds v, which must not overlap any VMA, keeping the order.
func (m *Model) insert(v VMA) int {
	i := m.findNext(v.Start)
	m.vmas = slices.Insert(m.vmas, i, v)
	return i
}

func (m *Model) newAnonID() int {
	m.ids.anon++
	return m.ids.anon
}

// LockedPages returns mm->locked_vm in pages (/proc/pid/status VmLck in
// pages).
func (m *Model) LockedPages() uint64 { return m.locked }

// mlockFutureOK is mm/mmap.c: mlock_future_ok(): whether bytes more of a
// VMA with flags may be locked. Only VMLocked memory counts, and with
// CAP_IPC_LOCK (MemlockLimit 0) there is no limit.
func (m *Model) mlockFutureOK(flags uint32, bytes uint64) bool {
	if flags&VMLocked == 0 || m.cfg.MemlockLimit == 0 {
		return true
	}
	limit := uint64(max(m.cfg.MemlockLimit, 0)) / PageSize
	return m.locked+bytes/PageSize <= limit
}

// account adds bytes of a VMA with flags to mm->locked_vm if it is
// VMLocked.
func (m *Model) account(flags uint32, bytes uint64) {
	if flags&VMLocked != 0 {
		m.locked += bytes / PageSize
	}
}
