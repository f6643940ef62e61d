//go:build linux && (amd64 || arm64)

package kbench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Linux constants the syscall package does not name portably.
const (
	rusageThread  = 1  // RUSAGE_THREAD
	madvNoHugePag = 15 // MADV_NOHUGEPAGE
)

// Supported reports whether the real kernel can be measured here. Safe for
// concurrent use.
func Supported() bool { return true }

// Mmap is mmap(2) of anonymous memory (fd -1, offset 0) as one raw system
// call, returning the address the kernel chose. Callers must not pass
// MAP_FIXED: a fixed mapping could replace the Go runtime's memory (use
// MapFixedNoreplace into a Hole instead). Safe for concurrent use, as the
// system call is.
func Mmap(addr, length uintptr, prot, flags int) (uintptr, error) {
	r, _, e := syscall.Syscall6(syscall.SYS_MMAP, addr, length, uintptr(prot), uintptr(flags), ^uintptr(0), 0)
	if e != 0 {
		return 0, e
	}
	return r, nil
}

// Munmap is munmap(2) as one raw system call. The caller must own every
// page of [addr, addr+length). Safe for concurrent use.
func Munmap(addr, length uintptr) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, addr, length, 0); e != 0 {
		return e
	}
	return nil
}

// Mprotect is mprotect(2) as one raw system call. The caller must own every
// page of [addr, addr+length). Safe for concurrent use.
func Mprotect(addr, length uintptr, prot int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MPROTECT, addr, length, uintptr(prot)); e != 0 {
		return e
	}
	return nil
}

func madvise(addr, length uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// MaxMapCount returns vm.max_map_count (/proc/sys/vm/max_map_count): the
// most VMAs this process may have. Safe for concurrent use.
func MaxMapCount() (int, error) {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(bytes.TrimSpace(b)))
}

// MapCount returns the number of VMAs the process has now: the lines of
// /proc/self/maps (mm->map_count, plus the vsyscall page where it is
// shown). Safe for concurrent use; the value may be stale at once.
func MapCount() (int, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte{'\n'}), nil
}

// MapsIn returns the number of VMAs in /proc/self/maps that overlap
// [start, end). Safe for concurrent use; the value may be stale at once.
func MapsIn(start, end uintptr) (int, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range bytes.Lines(b) {
		dash := bytes.IndexByte(line, '-')
		sp := bytes.IndexByte(line, ' ')
		if dash < 0 || sp < dash {
			return 0, fmt.Errorf("kbench: bad /proc/self/maps line %q", line)
		}
		lo, err1 := strconv.ParseUint(string(line[:dash]), 16, 64)
		hi, err2 := strconv.ParseUint(string(line[dash+1:sp]), 16, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("kbench: bad /proc/self/maps line %q", line)
		}
		if uintptr(lo) < end && uintptr(hi) > start {
			n++
		}
	}
	return n, nil
}

// ThreadFaults returns the calling OS thread's minor and major page-fault
// counts (getrusage(RUSAGE_THREAD): ru_minflt, ru_majflt). The caller
// should hold runtime.LockOSThread, or the goroutine may move between
// threads between two readings.
func ThreadFaults() (minor, major int64, err error) {
	return rusage(rusageThread)
}

// ProcessFaults returns the whole process's minor and major page-fault
// counts (getrusage(RUSAGE_SELF)), the Go runtime's own faults included.
// Safe for concurrent use.
func ProcessFaults() (minor, major int64, err error) {
	return rusage(syscall.RUSAGE_SELF)
}

func rusage(who int) (minor, major int64, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0, 0, err
	}
	return int64(ru.Minflt), int64(ru.Majflt), nil
}

// bytesAt returns the memory [addr, addr+length) as a slice, the way
// syscall.Mmap builds its result.
func bytesAt(addr uintptr, length int) []byte {
	sl := struct {
		addr uintptr
		len  int
		cap  int
	}{addr, length, length}
	return *(*[]byte)(unsafe.Pointer(&sl))
}

// MapRegion maps length bytes (rounded up to pages) of fresh private
// anonymous memory with prot (MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE,
// placed by the kernel) and madvises it MADV_NOHUGEPAGE, so that each
// first touch is one fault on one 4 KiB page. Safe for concurrent use.
func MapRegion(length int, prot int) (*Region, error) {
	if length <= 0 {
		return nil, syscall.EINVAL
	}
	length = (length + PageSize - 1) &^ (PageSize - 1)
	addr, err := Mmap(0, uintptr(length), prot, MapPrivate|MapAnonymous|MapNoReserve)
	if err != nil {
		return nil, err
	}
	if err := madvise(addr, uintptr(length), madvNoHugePag); err != nil {
		_ = Munmap(addr, uintptr(length))
		return nil, err
	}
	return &Region{mem: bytesAt(addr, length)}, nil
}

// MapFile maps the first length bytes of f read-only and private
// (PROT_READ, MAP_PRIVATE), as a program maps a file it reads: a first
// touch of a page in the page cache is a minor fault that maps it, with the
// kernel's fault-around. Safe for concurrent use.
func MapFile(f *os.File, length int) (*Region, error) {
	if length <= 0 {
		return nil, syscall.EINVAL
	}
	r, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, uintptr(length), ProtRead, MapPrivate, f.Fd(), 0)
	if e != 0 {
		return nil, e
	}
	return &Region{mem: bytesAt(r, length)}, nil
}

// Addr returns the region's address (0 after Unmap).
func (r *Region) Addr() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(r.mem))) }

// Unmap unmaps the whole region. Calling it again does nothing.
func (r *Region) Unmap() error {
	if r.mem == nil {
		return nil
	}
	err := Munmap(r.Addr(), uintptr((len(r.mem)+PageSize-1)&^(PageSize-1)))
	r.mem = nil
	return err
}

// Fill makes about n new VMAs in the process: n pages of private anonymous
// memory whose protections alternate PROT_READ and PROT_NONE, so that no
// two neighbours merge. VMAs reports the VMAs that overlap those pages:
// n, though the process may have gained one or two fewer if an end page
// merged with a neighbouring mapping. The caller must check that the
// process stays below MaxMapCount. Safe for concurrent use.
func Fill(n int) (*Filler, error) {
	if n <= 0 {
		return nil, syscall.EINVAL
	}
	r, err := MapRegion(n*PageSize, ProtRead)
	if err != nil {
		return nil, err
	}
	base := r.Addr()
	for i := 1; i < n; i += 2 {
		if err := Mprotect(base+uintptr(i)*PageSize, PageSize, ProtNone); err != nil {
			_ = r.Unmap()
			return nil, fmt.Errorf("kbench: fill: mprotect page %d of %d: %w", i, n, err)
		}
	}
	got, err := MapsIn(base, base+uintptr(n)*PageSize)
	if err != nil {
		_ = r.Unmap()
		return nil, err
	}
	return &Filler{r: r, n: got}, nil
}

// Close unmaps every VMA the Filler made. Calling it again does nothing.
func (f *Filler) Close() error { return f.r.Unmap() }

// A Hole is a free range of pages between two PROT_NONE guard pages, all
// inside one reservation this package made: a benchmark maps into it with
// MapFixedNoreplace, so that its mapping has known neighbours (it cannot
// merge with the Go runtime's memory) and replaces nothing.
//
// Concurrency: Close must not run concurrently with mappings into the hole.
type Hole struct {
	Addr  uintptr // immutable: the first page of the hole
	Len   uintptr // immutable: the hole's length in bytes
	guard uintptr // immutable: the reservation's first page
}

// NewHole reserves pages+2 pages PROT_NONE and unmaps the inner pages,
// leaving a hole of pages pages between two guard pages. Safe for
// concurrent use.
func NewHole(pages int) (*Hole, error) {
	if pages <= 0 {
		return nil, syscall.EINVAL
	}
	total := uintptr(pages+2) * PageSize
	base, err := Mmap(0, total, ProtNone, MapPrivate|MapAnonymous|MapNoReserve)
	if err != nil {
		return nil, err
	}
	h := &Hole{Addr: base + PageSize, Len: uintptr(pages) * PageSize, guard: base}
	if err := Munmap(h.Addr, h.Len); err != nil {
		_ = Munmap(base, total)
		return nil, err
	}
	return h, nil
}

// Close unmaps the guard pages and whatever is mapped in the hole.
func (h *Hole) Close() error { return Munmap(h.guard, h.Len+2*PageSize) }
