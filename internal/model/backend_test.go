package model_test

import (
	"testing"

	"github.com/vmsim/vmsim/internal/model"
)

// backend is what the table tests drive: the model, or (on Linux) the real
// kernel confined to a window. Addresses are absolute; base() says where
// the test's scratch area starts.
type backend interface {
	name() string
	base() uint64
	Mmap(addr, length uint64, prot, flags uint32, f *model.File, off uint64) (uint64, model.Errno)
	Munmap(addr, length uint64) model.Errno
	Mprotect(addr, length uint64, prot uint32) model.Errno
	Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, model.Errno)
	Madvise(addr, length uint64, advice int) model.Errno
	Store(addr uint64, b byte) model.Errno
	Load(addr uint64) (byte, model.Errno)
	// layout returns the VMAs overlapping the scratch area as
	// "start-end perms" strings relative to base, in pages.
	layout() []string
	// file returns a File of the given size and open mode, backed by a
	// real file for the kernel.
	file(t *testing.T, id int, writable bool, size uint64) *model.File
	close()
}

// P is the page size.
const P = model.PageSize

// testBase is where model-only backends put their scratch area: the same
// address the kernel tests use, so the two agree on pgoff values.
const testBase = 0x200000000000

type modelBackend struct {
	m *model.Model
}

func newModelBackend(cfg model.Config) *modelBackend { return &modelBackend{m: model.New(cfg)} }

func (b *modelBackend) name() string { return "model" }
func (b *modelBackend) base() uint64 { return testBase }
func (b *modelBackend) Mmap(addr, length uint64, prot, flags uint32, f *model.File, off uint64) (uint64, model.Errno) {
	return b.m.Mmap(addr, length, prot, flags, f, off)
}
func (b *modelBackend) Munmap(addr, length uint64) model.Errno { return b.m.Munmap(addr, length) }
func (b *modelBackend) Mprotect(addr, length uint64, prot uint32) model.Errno {
	return b.m.Mprotect(addr, length, prot)
}
func (b *modelBackend) Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, model.Errno) {
	return b.m.Mremap(oldAddr, oldLen, newLen, flags, newAddr)
}
func (b *modelBackend) Madvise(addr, length uint64, advice int) model.Errno {
	return b.m.Madvise(addr, length, advice)
}
func (b *modelBackend) Store(addr uint64, v byte) model.Errno { return b.m.Store(addr, v) }
func (b *modelBackend) Load(addr uint64) (byte, model.Errno)  { return b.m.Load(addr) }
func (b *modelBackend) layout() []string                      { return modelLayout(b.m.VMAs(), testBase, 1<<30) }
func (b *modelBackend) close()                                {}
func (b *modelBackend) file(t *testing.T, id int, writable bool, size uint64) *model.File {
	return &model.File{ID: id, Writable: writable, Size: size}
}

func modelLayout(vmas []model.VMA, base, size uint64) []string {
	var out []string
	for _, v := range vmas {
		if v.End <= base || v.Start >= base+size {
			continue
		}
		out = append(out, layoutLine(v.Start-base, v.End-base, v.Perms()))
	}
	return out
}

func layoutLine(start, end uint64, perms string) string {
	return hex(start/model.PageSize) + "-" + hex(end/model.PageSize) + " " + perms
}

func hex(n uint64) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{digits[n%16]}, b...)
		n /= 16
	}
	return string(b)
}
