package kbench

import (
	"errors"
	"sync/atomic"
	"unsafe"
)

// ErrUnsupported is returned where there is no Linux kernel to measure.
var ErrUnsupported = errors.New("kbench: real-kernel measurements need Linux")

// PageSize is the page size the benchmarks assume (x86-64 and arm64 with
// 4 KiB pages). Safe for concurrent use: a constant.
const PageSize = 4096

// Protection bits and mapping flags, as include/uapi/asm-generic/mman*.h
// (Linux x86-64 values). Constants: safe for concurrent use.
const (
	ProtNone  = 0x0
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4

	MapShared    = 0x01
	MapPrivate   = 0x02
	MapAnonymous = 0x20
	MapNoReserve = 0x4000
	MapPopulate  = 0x8000
	// MapFixedNoreplace places a mapping exactly at its address or fails
	// with EEXIST (Linux 4.17+): it never replaces anything.
	MapFixedNoreplace = 0x100000
)

// A Region is one mapping made by MapRegion or MapFile, accessed as a Go
// byte slice so that a touch is a plain CPU load or store that the kernel's
// page-fault handler serves.
//
// Concurrency: ReadPage and WritePage may be called from several
// goroutines on different pages (a store to a byte is not atomic with a
// load of the same byte by another goroutine); Unmap must not run
// concurrently with any other method.
type Region struct {
	mem []byte // the mapping; nil after Unmap
}

// Len returns the region's length in bytes (0 after Unmap).
func (r *Region) Len() int { return len(r.mem) }

// Pages returns the number of pages in the region.
func (r *Region) Pages() int { return len(r.mem) / PageSize }

// ReadPage loads the first byte of page i: on the first touch of a fresh
// anonymous page the kernel maps its zero page (a read fault). It panics,
// as an index out of range, if i is not a page of the region (a
// programmer error).
func (r *Region) ReadPage(i int) byte { return r.mem[i*PageSize] }

// WritePage stores v in the first byte of page i: on the first touch of a
// fresh anonymous page the kernel allocates a zeroed page (a write fault).
// It panics, as an index out of range, if i is not a page of the region.
func (r *Region) WritePage(i int, v byte) { r.mem[i*PageSize] = v }

// ReadAt loads byte off of the region. It panics if off is out of range.
func (r *Region) ReadAt(off int) byte { return r.mem[off] }

// LoadUint64 atomically loads the 8 bytes at off, which must be a multiple
// of 8 (a programmer error otherwise: the load may tear or, on some
// architectures, fault). It panics if off is out of range.
func (r *Region) LoadUint64(off int) uint64 {
	_ = r.mem[off+7]
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.mem[off])))
}

// StoreUint64 atomically stores v in the 8 bytes at off, which must be a
// multiple of 8. It panics if off is out of range.
func (r *Region) StoreUint64(off int, v uint64) {
	_ = r.mem[off+7]
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&r.mem[off])), v)
}

// A Filler holds n real VMAs, made by Fill, so that a benchmark measures
// the kernel with a large address space. Close unmaps them.
//
// Concurrency: Close must not run concurrently with other methods;
// VMAs is safe for concurrent use.
type Filler struct {
	r *Region // the pages whose protections alternate; immutable until Close
	n int     // immutable
}

// VMAs returns the number of VMAs the Filler made.
func (f *Filler) VMAs() int { return f.n }
