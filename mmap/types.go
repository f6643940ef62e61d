package mmap

import (
	"fmt"
	"strconv"
	"syscall"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
)

// PageSize is the size of a simulated page: 4 KiB, as x86-64.
const PageSize = pgtable.PageSize

// TaskSize is the end of the user address space on x86-64 with 4-level
// page tables (TASK_SIZE_MAX: 1<<47 minus one guard page).
const TaskSize uint64 = 0x7ffffffff000

// Prot is a set of PROT_* bits (Linux values).
type Prot uint32

// Protection bits, as include/uapi/asm-generic/mman-common.h.
const (
	ProtNone  Prot = 0x0
	ProtRead  Prot = 0x1
	ProtWrite Prot = 0x2
	ProtExec  Prot = 0x4
)

// protMask is every PROT_* bit mmap and mprotect understand here.
// PROT_GROWSDOWN/PROT_GROWSUP and PROT_SEM are not simulated.
const protMask = ProtRead | ProtWrite | ProtExec

// String returns the permissions as /proc/pid/maps writes them, without
// the sharing column: "rwx", "r--", "---".
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// Flag is a set of MAP_* flags (Linux x86-64 values).
type Flag uint32

// Mapping flags, as include/uapi/linux/mman.h and asm-generic/mman*.h.
const (
	MapShared         Flag = 0x01
	MapPrivate        Flag = 0x02
	MapSharedValidate Flag = 0x03
	MapFixed          Flag = 0x10
	MapAnonymous      Flag = 0x20
	MapGrowsDown      Flag = 0x100
	MapDenyWrite      Flag = 0x800
	MapExecutable     Flag = 0x1000
	MapLocked         Flag = 0x2000
	MapNoReserve      Flag = 0x4000
	MapPopulate       Flag = 0x8000
	MapNonBlock       Flag = 0x10000
	MapStack          Flag = 0x20000
	MapHugeTLB        Flag = 0x40000
	MapSync           Flag = 0x80000
	MapFixedNoreplace Flag = 0x100000
)

const mapTypeMask = 0x0f // MAP_TYPE

// legacyMapMask is include/linux/mman.h: LEGACY_MAP_MASK: the flags
// MAP_SHARED_VALIDATE accepts besides those the file's filesystem adds
// (MAP_SYNC) (mm/mmap.c: do_mmap). MAP_32BIT, MAP_ABOVE4G and the
// MAP_HUGE_* size bits are in it too, so MAP_SHARED_VALIDATE accepts them.
const legacyMapMask = MapShared | MapPrivate | MapFixed | MapAnonymous | MapDenyWrite |
	MapExecutable | MapUninitialized | MapGrowsDown | MapLocked | MapNoReserve | MapPopulate |
	MapNonBlock | MapStack | MapHugeTLB | map32Bit | mapAbove4G | mapHuge2MB | mapHuge1GB

// Flags of LEGACY_MAP_MASK that vmsim accepts without giving them a
// meaning: MAP_32BIT, MAP_ABOVE4G, MAP_HUGE_2MB and MAP_HUGE_1GB.
const (
	map32Bit   Flag = 0x40
	mapAbove4G Flag = 0x80
	mapHuge2MB Flag = 21 << 26
	mapHuge1GB Flag = 30 << 26
)

// MapUninitialized is MAP_UNINITIALIZED, accepted and ignored as on
// kernels without CONFIG_MMAP_ALLOW_UNINITIALIZED.
const MapUninitialized Flag = 0x4000000

// MremapFlag is a set of MREMAP_* flags.
type MremapFlag uint32

// Mremap flags, as include/uapi/linux/mman.h.
const (
	MremapMaymove   MremapFlag = 1
	MremapFixed     MremapFlag = 2
	MremapDontunmap MremapFlag = 4
)

// Advice is a madvise(2) advice value.
type Advice int

// Advice values, as include/uapi/asm-generic/mman-common.h.
const (
	MadvNormal     Advice = 0
	MadvRandom     Advice = 1
	MadvSequential Advice = 2
	MadvWillneed   Advice = 3
	MadvDontneed   Advice = 4
	MadvFree       Advice = 8
	// MadvDontfork sets VM_DONTCOPY (smaps "dc"): Fork leaves the range
	// out of the child. Like the other flag advices it splits VMAs and
	// blocks merges, as in Linux.
	MadvDontfork Advice = 10
	// MadvDofork clears VM_DONTCOPY.
	MadvDofork Advice = 11
	// MadvHugepage sets VM_HUGEPAGE (smaps "hg") and clears
	// VM_NOHUGEPAGE, on every kind of mapping. vmsim has no huge pages.
	MadvHugepage Advice = 14
	// MadvNohugepage sets VM_NOHUGEPAGE (smaps "nh") and clears
	// VM_HUGEPAGE.
	MadvNohugepage Advice = 15
	// MadvDontdump sets VM_DONTDUMP (smaps "dd"): no core dump of the range.
	MadvDontdump Advice = 16
	// MadvDodump clears VM_DONTDUMP.
	MadvDodump Advice = 17
	// MadvWipeonfork sets VM_WIPEONFORK (smaps "wf"): Fork maps the
	// range in the child empty, so the child reads zeros there. Only private anonymous memory accepts it; any other mapping
	// is EINVAL.
	MadvWipeonfork Advice = 18
	// MadvKeeponfork clears VM_WIPEONFORK.
	MadvKeeponfork Advice = 19
	// MadvCold deactivates the pages. vmsim has no LRU: a no-op.
	MadvCold Advice = 20
	// MadvPageout reclaims the pages. vmsim has no swap or reclaim, and
	// contents never change: a no-op.
	MadvPageout Advice = 21
	// MadvPopulateRead prefaults the range for reading, like MAP_POPULATE
	// of a read-only mapping, stopping at the first failure: ENOMEM at
	// an unmapped page, EINVAL on a mapping without PROT_READ, EFAULT at
	// a page the fault refuses (beyond the end of a file).
	MadvPopulateRead Advice = 22
	// MadvPopulateWrite prefaults the range for writing (a write fault
	// on each page: it breaks copy-on-write of a private file mapping),
	// with the errors of MadvPopulateRead, EINVAL on a mapping without
	// PROT_WRITE.
	MadvPopulateWrite Advice = 23
)

// Errno is a Linux error number returned by the simulated syscalls. It
// compares equal to itself with errors.Is, and also matches the
// syscall.Errno of the same number.
type Errno uint32

// Error numbers (asm-generic/errno-base.h, errno.h).
const (
	EPERM      Errno = 1
	EBADF      Errno = 9
	EAGAIN     Errno = 11
	ENOMEM     Errno = 12
	EACCES     Errno = 13
	EFAULT     Errno = 14
	EEXIST     Errno = 17
	ENODEV     Errno = 19
	EINVAL     Errno = 22
	EOVERFLOW  Errno = 75
	EOPNOTSUPP Errno = 95
)

var errnoText = map[Errno]string{
	EPERM:      "operation not permitted",
	EBADF:      "bad file descriptor",
	EAGAIN:     "resource temporarily unavailable",
	ENOMEM:     "cannot allocate memory",
	EACCES:     "permission denied",
	EFAULT:     "bad address",
	EEXIST:     "file exists",
	ENODEV:     "no such device",
	EINVAL:     "invalid argument",
	EOVERFLOW:  "value too large for defined data type",
	EOPNOTSUPP: "operation not supported",
}

// Error returns strerror(e), as Go's syscall package words it.
func (e Errno) Error() string {
	if s, ok := errnoText[e]; ok {
		return s
	}
	return "errno " + strconv.Itoa(int(e))
}

// Is lets errors.Is match an Errno against the syscall.Errno of the same
// number, so code written against the real syscalls works unchanged.
func (e Errno) Is(target error) bool {
	t, ok := target.(syscall.Errno)
	return ok && uint32(t) == uint32(e)
}

// Policy selects the fault path's locking design; see the constants.
type Policy = fault.Policy

// The three locking policies that run the same workload.
const (
	PolicyRCURefcount = fault.PolicyRCURefcount // Wilcox 2019: RCU lookup, per-VMA refcount (the default)
	PolicyMmapLock    = fault.PolicyMmapLock    // before Linux 6.4: the mmap lock around every fault
	PolicyPerVMALock  = fault.PolicyPerVMALock  // Linux 6.4+: per-VMA read locks
)

// ParsePolicy returns the policy named as Policy.String prints it:
// "rcu-refcount", "mmap-lock" or "per-vma-lock".
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{PolicyRCURefcount, PolicyMmapLock, PolicyPerVMALock} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("mmap: unknown policy %q (want rcu-refcount, mmap-lock or per-vma-lock)", s)
}

// Quirks is a set of deliberate rule breaks; see the constants.
type Quirks = fault.Quirks

// Quirks, each weakening one rule so examples can show the failure and
// tests can prove they see it.
const (
	QuirkNonAtomicFixedReplace = fault.QuirkNonAtomicFixedReplace
	QuirkNoLockFallback        = fault.QuirkNoLockFallback
	QuirkNoGracePeriod         = fault.QuirkNoGracePeriod
	QuirkNoShootdown           = fault.QuirkNoShootdown
	QuirkNoDetachCheck         = fault.QuirkNoDetachCheck
	QuirkForkNoVMALock         = fault.QuirkForkNoVMALock
)

// ParseQuirks parses a comma-separated list of quirk names such as
// "non-atomic-fixed-replace,no-lock-fallback".
func ParseQuirks(s string) (Quirks, error) { return fault.ParseQuirks(s) }
