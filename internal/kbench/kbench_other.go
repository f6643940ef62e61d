//go:build !linux || !(amd64 || arm64)

package kbench

import (
	"os"
	"time"
)

// Supported reports whether the real kernel can be measured here: false.
func Supported() bool { return false }

// Mmap is mmap(2) of anonymous memory; here it returns ErrUnsupported.
func Mmap(addr, length uintptr, prot, flags int) (uintptr, error) { return 0, ErrUnsupported }

// Munmap is munmap(2); here it returns ErrUnsupported.
func Munmap(addr, length uintptr) error { return ErrUnsupported }

// Mprotect is mprotect(2); here it returns ErrUnsupported.
func Mprotect(addr, length uintptr, prot int) error { return ErrUnsupported }

// MaxMapCount returns vm.max_map_count; here it returns ErrUnsupported.
func MaxMapCount() (int, error) { return 0, ErrUnsupported }

// MapCount returns the process's VMA count; here it returns ErrUnsupported.
func MapCount() (int, error) { return 0, ErrUnsupported }

// MapsIn counts the VMAs overlapping [start, end); here it returns
// ErrUnsupported.
func MapsIn(start, end uintptr) (int, error) { return 0, ErrUnsupported }

// ThreadFaults returns the calling thread's fault counts; here it returns
// ErrUnsupported.
func ThreadFaults() (minor, major int64, err error) { return 0, 0, ErrUnsupported }

// ProcessFaults returns the process's fault counts; here it returns
// ErrUnsupported.
func ProcessFaults() (minor, major int64, err error) { return 0, 0, ErrUnsupported }

// MapRegion maps fresh anonymous memory; here it returns ErrUnsupported.
func MapRegion(length int, prot int) (*Region, error) { return nil, ErrUnsupported }

// MapFile maps a file read-only; here it returns ErrUnsupported.
func MapFile(f *os.File, length int) (*Region, error) { return nil, ErrUnsupported }

// Addr returns the region's address; here 0.
func (r *Region) Addr() uintptr { return 0 }

// Unmap unmaps the region; here it returns ErrUnsupported.
func (r *Region) Unmap() error { return ErrUnsupported }

// Fill makes n VMAs; here it returns ErrUnsupported.
func Fill(n int) (*Filler, error) { return nil, ErrUnsupported }

// Close unmaps the Filler's VMAs; here it returns ErrUnsupported.
func (f *Filler) Close() error { return ErrUnsupported }

// A Hole is a free range of pages between two guard pages; here NewHole
// always fails.
type Hole struct {
	Addr, Len uintptr // immutable
}

// NewHole reserves a guarded hole; here it returns ErrUnsupported.
func NewHole(pages int) (*Hole, error) { return nil, ErrUnsupported }

// Close releases the hole; here it returns ErrUnsupported.
func (h *Hole) Close() error { return ErrUnsupported }

// A Child is a process made by Fork; there is none here.
type Child struct{}

// Fork forks the test process; here it returns ErrUnsupported.
func Fork(hold bool) (*Child, time.Duration, error) { return nil, 0, ErrUnsupported }

// Release lets a child exit; here it returns ErrUnsupported.
func (c *Child) Release() error { return ErrUnsupported }
