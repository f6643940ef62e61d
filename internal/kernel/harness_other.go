//go:build !linux

package kernel

import "syscall"

// Harness is the real-kernel oracle; without Linux it cannot be opened.
//
// A Harness is not safe for concurrent use.
type Harness struct{}

// Open returns ErrUnsupported: there is no Linux kernel to ask.
func Open(w Window) (*Harness, error) { return nil, ErrUnsupported }

// OpenAny returns ErrUnsupported.
func OpenAny(size uint64) (*Harness, error) { return nil, ErrUnsupported }

// Release returns ErrUnsupported.
func Release() (major, minor int, err error) { return 0, 0, ErrUnsupported }

// Window returns the zero Window.
func (h *Harness) Window() Window { return Window{} }

// Maps returns ErrUnsupported.
func (h *Harness) Maps() ([]Mapping, error) { return nil, ErrUnsupported }

// Smaps returns ErrUnsupported.
func (h *Harness) Smaps() ([]Mapping, error) { return nil, ErrUnsupported }

// Mmap returns ErrUnsupported.
func (h *Harness) Mmap(addr, length uint64, prot, flags uint32, fd int, offset uint64) (uint64, error) {
	return 0, ErrUnsupported
}

// Munmap returns ErrUnsupported.
func (h *Harness) Munmap(addr, length uint64) error { return ErrUnsupported }

// Mprotect returns ErrUnsupported.
func (h *Harness) Mprotect(addr, length uint64, prot uint32) error { return ErrUnsupported }

// Madvise returns ErrUnsupported.
func (h *Harness) Madvise(addr, length uint64, advice int) error { return ErrUnsupported }

// Mremap returns ErrUnsupported.
func (h *Harness) Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, error) {
	return 0, ErrUnsupported
}

// Load returns ErrUnsupported.
func (h *Harness) Load(addr uint64) (byte, error) { return 0, ErrUnsupported }

// Store returns ErrUnsupported.
func (h *Harness) Store(addr uint64, b byte) error { return ErrUnsupported }

// ReleaseOutside returns ErrUnsupported.
func (h *Harness) ReleaseOutside() error { return ErrUnsupported }

// Reset returns ErrUnsupported.
func (h *Harness) Reset() error { return ErrUnsupported }

// Close does nothing.
func (h *Harness) Close() error { return nil }

// ChildCall is one step of a forked child's program; see the Linux
// version.
type ChildCall struct {
	Nr   uintptr
	Args [6]uintptr
}

// ChildResult is what a forked child reports; see the Linux version.
type ChildResult struct {
	Rets   []uintptr
	Errnos []syscall.Errno
	Smaps  []Mapping
}

// Fork returns ErrUnsupported.
func (h *Harness) Fork(prog []ChildCall) (*ChildResult, error) { return nil, ErrUnsupported }
