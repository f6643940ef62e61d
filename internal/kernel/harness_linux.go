//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Harness issues memory-management system calls confined to one Window of
// the calling process and observes their effect.
//
// A Harness is not safe for concurrent use: one goroutine drives it. Two
// Harnesses in one process must have disjoint windows (Open enforces it).
type Harness struct {
	w   Window   // immutable
	mem *os.File // /proc/self/mem, opened read-write; owned
	// outside records mappings the kernel placed outside the window for
	// calls without MAP_FIXED (start → length); Close unmaps exactly these.
	outside map[uint64]uint64
	closed  bool
}

var (
	claimedMu sync.Mutex
	claimed   []Window // protected by claimedMu
)

// heapGuard is how far below a window Open demands free address space.
// The Go heap (whose base Go 1.26 randomises) grows upward from its first
// arena; a heap that starts this far below the window cannot reach it
// during a test.
const heapGuard = 64 << 30

// Open claims w for a new Harness. It fails if w is not page-aligned, if
// another Harness in this process owns an overlapping window, or if
// /proc/self/maps shows anything mapped in w or in the heapGuard (64 GiB)
// below it, where a growing Go heap could reach (so the caller should pick
// another base, or use FindWindow).
func Open(w Window) (*Harness, error) {
	if w.Base%pageSize != 0 || w.Size%pageSize != 0 || w.Size == 0 || w.End() < w.Base {
		return nil, fmt.Errorf("kernel: window %#x+%#x is not a page-aligned range", w.Base, w.Size)
	}
	claimedMu.Lock()
	defer claimedMu.Unlock()
	for _, c := range claimed {
		if c.Overlaps(w.Base, w.End()) {
			return nil, fmt.Errorf("kernel: window %#x+%#x overlaps another open harness", w.Base, w.Size)
		}
	}
	all, err := readMaps()
	if err != nil {
		return nil, err
	}
	guarded := Window{Base: w.Base - min(w.Base, heapGuard), Size: w.End() - w.Base + min(w.Base, heapGuard)}
	for _, m := range all {
		if guarded.Overlaps(m.Start, m.End) {
			return nil, fmt.Errorf("kernel: window %#x+%#x or the %d GiB below it is not empty: %v", w.Base, w.Size, heapGuard>>30, m)
		}
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	claimed = append(claimed, w)
	return &Harness{w: w, mem: mem, outside: make(map[uint64]uint64)}, nil
}

// candidateBases are tried in order by OpenAny: all far from the kernel's
// top-down area (just below 0x7fff_f7ff_f000) and its bottom-up fallback
// start (0x2aaa_aaaa_b000).
var candidateBases = []uint64{0x200000000000, 0x100000000000, 0x180000000000, 0x500000000000, 0x580000000000, 0x080000000000}

// OpenAny opens a Harness on the first free window of the given size among
// a few fixed, well-separated bases, starting with DefaultWindow.Base.
func OpenAny(size uint64) (*Harness, error) {
	var firstErr error
	for _, b := range candidateBases {
		h, err := Open(Window{Base: b, Size: size})
		if err == nil {
			return h, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// Release returns the running kernel's major and minor version, from
// uname(2).
func Release() (major, minor int, err error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return 0, 0, err
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	if _, err := fmt.Sscanf(string(b), "%d.%d", &major, &minor); err != nil {
		return 0, 0, fmt.Errorf("kernel: cannot parse release %q: %w", b, err)
	}
	return major, minor, nil
}

// Window returns the harness's window.
func (h *Harness) Window() Window { return h.w }

func readMaps() ([]Mapping, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMaps(f)
}

// Maps returns the lines of /proc/self/maps that overlap the window, in
// address order.
func (h *Harness) Maps() ([]Mapping, error) {
	all, err := readMaps()
	if err != nil {
		return nil, err
	}
	return h.clip(all), nil
}

// Smaps returns the entries of /proc/self/smaps that overlap the window,
// with their VmFlags. It is slower than Maps: the kernel walks the page
// tables of every VMA of the process.
func (h *Harness) Smaps() ([]Mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := ParseSmaps(f)
	if err != nil {
		return nil, err
	}
	return h.clip(all), nil
}

func (h *Harness) clip(all []Mapping) []Mapping {
	var out []Mapping
	for _, m := range all {
		if h.w.Overlaps(m.Start, m.End) {
			out = append(out, m)
		}
	}
	return out
}

func errnoOf(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Mmap issues mmap(addr, length, prot, flags, fd, offset). With MAP_FIXED
// or MAP_FIXED_NOREPLACE the range must lie in the window. Without them
// the kernel may choose an address outside the window (an ignored hint);
// the Harness then records that mapping and unmaps it on Close or
// ReleaseOutside. The error is nil, a syscall.Errno, or *RefusedError.
func (h *Harness) Mmap(addr, length uint64, prot, flags uint32, fd int, offset uint64) (uint64, error) {
	if flags&(mapFixed|mapFixedNoreplac) != 0 {
		if err := checkRange(h.w, describe("mmap", addr, length, uint64(prot), uint64(flags)), addr, length); err != nil {
			return 0, err
		}
	}
	r, _, e := syscall.Syscall6(syscall.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot), uintptr(flags), uintptr(fd), uintptr(offset))
	if e != 0 {
		return 0, e
	}
	res := uint64(r)
	if !h.w.Contains(res, pageAlign(length)) {
		h.outside[res] = pageAlign(length)
	}
	return res, nil
}

// Munmap issues munmap(addr, length) for a range inside the window.
func (h *Harness) Munmap(addr, length uint64) error {
	if err := checkRange(h.w, describe("munmap", addr, length), addr, length); err != nil {
		return err
	}
	_, _, e := syscall.Syscall(syscall.SYS_MUNMAP, uintptr(addr), uintptr(length), 0)
	return errnoOf(e)
}

// Mprotect issues mprotect(addr, length, prot) for a range inside the
// window.
func (h *Harness) Mprotect(addr, length uint64, prot uint32) error {
	if err := checkRange(h.w, describe("mprotect", addr, length, uint64(prot)), addr, length); err != nil {
		return err
	}
	_, _, e := syscall.Syscall(syscall.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot))
	return errnoOf(e)
}

// Madvise issues madvise(addr, length, advice) for a range inside the
// window.
func (h *Harness) Madvise(addr, length uint64, advice int) error {
	if err := checkRange(h.w, describe("madvise", addr, length, uint64(advice)), addr, length); err != nil {
		return err
	}
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice))
	return errnoOf(e)
}

// Mremap issues mremap(oldAddr, oldLen, newLen, flags, newAddr). The old
// range and, with MREMAP_FIXED, the new range must lie in the window. When
// the kernel moves the mapping outside the window (MREMAP_MAYMOVE without
// MREMAP_FIXED), the Harness records the new range like Mmap does.
func (h *Harness) Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, error) {
	call := describe("mremap", oldAddr, oldLen, newLen, uint64(flags), newAddr)
	// A shrink unmaps [oldAddr+newLen, oldAddr+oldLen); a grow in place
	// only extends into free space, but the old range must be ours.
	if err := checkRange(h.w, call, oldAddr, max(oldLen, 1)); err != nil {
		return 0, err
	}
	if flags&mremapFixed != 0 {
		if err := checkRange(h.w, call, newAddr, newLen); err != nil {
			return 0, err
		}
	}
	r, _, e := syscall.Syscall6(syscall.SYS_MREMAP, uintptr(oldAddr), uintptr(oldLen), uintptr(newLen), uintptr(flags), uintptr(newAddr), 0)
	if e != 0 {
		return 0, e
	}
	res := uint64(r)
	if !h.w.Contains(res, pageAlign(newLen)) {
		h.outside[res] = pageAlign(newLen)
	}
	return res, nil
}

// Load reads the byte at addr through /proc/self/mem. An unmapped
// address gives EIO (the ptrace access fails instead of faulting).
func (h *Harness) Load(addr uint64) (byte, error) {
	if !h.w.Contains(addr, 1) {
		return 0, &RefusedError{Call: describe("read", addr)}
	}
	var b [1]byte
	_, err := h.mem.ReadAt(b[:], int64(addr))
	return b[0], unwrapErrno(err)
}

// Store writes b at addr through /proc/self/mem: a forced (ptrace)
// write, which succeeds by copy-on-write even on a read-only private page.
func (h *Harness) Store(addr uint64, b byte) error {
	if !h.w.Contains(addr, 1) {
		return &RefusedError{Call: describe("write", addr)}
	}
	_, err := h.mem.WriteAt([]byte{b}, int64(addr))
	return unwrapErrno(err)
}

func unwrapErrno(err error) error {
	if err == nil {
		return nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// ReleaseOutside unmaps every mapping the kernel placed outside the window
// for this harness and forgets them.
func (h *Harness) ReleaseOutside() error {
	var first error
	for start, length := range h.outside {
		if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, uintptr(start), uintptr(length), 0); e != 0 && first == nil {
			first = e
		}
		delete(h.outside, start)
	}
	return first
}

// Reset unmaps the whole window (and the outside mappings), leaving the
// harness open and the window empty.
func (h *Harness) Reset() error {
	err := h.ReleaseOutside()
	if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, uintptr(h.w.Base), uintptr(h.w.Size), 0); e != 0 && err == nil {
		err = e
	}
	return err
}

// Close unmaps the window and the outside mappings and releases the
// window for other harnesses. Close is idempotent.
func (h *Harness) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	err := h.Reset()
	if cerr := h.mem.Close(); cerr != nil && err == nil {
		err = cerr
	}
	claimedMu.Lock()
	defer claimedMu.Unlock()
	for i, c := range claimed {
		if c == h.w {
			claimed = append(claimed[:i], claimed[i+1:]...)
			break
		}
	}
	return err
}
