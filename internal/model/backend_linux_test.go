package model_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/vmsim/vmsim/internal/kernel"
	"github.com/vmsim/vmsim/internal/model"
)

// kernelBackend runs the calls as real system calls in a private window.
type kernelBackend struct {
	t     testing.TB
	h     *kernel.Harness
	fds   map[*model.File]int
	paths map[int]string // File.ID → path
	files []*os.File
}

// newKernelBackend opens a window on the real kernel, or skips the test
// when the kernel is older than the version the model mirrors (6.18:
// multi-VMA mremap moves, MREMAP_DONTUNMAP keeping VM_ACCOUNT, anonymous
// MAP_SYNC, ... differ on older kernels).
func newKernelBackend(t testing.TB) *kernelBackend {
	t.Helper()
	major, minor, err := kernel.Release()
	if err != nil {
		t.Fatal(err)
	}
	if major < 6 || major == 6 && minor < 18 {
		t.Skipf("kernel %d.%d is older than the 6.18 the model mirrors; not comparing", major, minor)
	}
	h, err := kernel.OpenAny(1 << 30)
	if err != nil {
		t.Fatalf("kernel window: %v", err)
	}
	return &kernelBackend{t: t, h: h, fds: map[*model.File]int{}, paths: map[int]string{}}
}

// errnoOf converts a harness error to a model errno; a refused call is a
// bug in the test.
func errnoOf(t testing.TB, err error) model.Errno {
	t.Helper()
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return model.Errno(e)
	}
	t.Fatalf("kernel harness: %v", err)
	return 0
}

func (b *kernelBackend) name() string { return "kernel" }
func (b *kernelBackend) base() uint64 { return b.h.Window().Base }

func (b *kernelBackend) fd(f *model.File) int {
	if f == nil {
		return -1
	}
	fd, ok := b.fds[f]
	if !ok {
		b.t.Fatalf("file %+v was not made by this backend", f)
	}
	return fd
}

func (b *kernelBackend) Mmap(addr, length uint64, prot, flags uint32, f *model.File, off uint64) (uint64, model.Errno) {
	fd := b.fd(f)
	if f == nil && flags&model.MapAnonymous == 0 {
		fd = 1 << 20 // no such descriptor: EBADF
	}
	r, err := b.h.Mmap(addr, length, prot, flags, fd, off)
	return r, errnoOf(b.t, err)
}
func (b *kernelBackend) Munmap(addr, length uint64) model.Errno {
	return errnoOf(b.t, b.h.Munmap(addr, length))
}
func (b *kernelBackend) Mprotect(addr, length uint64, prot uint32) model.Errno {
	return errnoOf(b.t, b.h.Mprotect(addr, length, prot))
}
func (b *kernelBackend) Mremap(oldAddr, oldLen, newLen uint64, flags uint32, newAddr uint64) (uint64, model.Errno) {
	r, err := b.h.Mremap(oldAddr, oldLen, newLen, flags, newAddr)
	return r, errnoOf(b.t, err)
}
func (b *kernelBackend) Madvise(addr, length uint64, advice int) model.Errno {
	return errnoOf(b.t, b.h.Madvise(addr, length, advice))
}
func (b *kernelBackend) Store(addr uint64, v byte) model.Errno {
	return errnoOf(b.t, b.h.Store(addr, v))
}
func (b *kernelBackend) Load(addr uint64) (byte, model.Errno) {
	v, err := b.h.Load(addr)
	return v, errnoOf(b.t, err)
}
func (b *kernelBackend) layout() []string {
	ms, err := b.h.Maps()
	if err != nil {
		b.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, layoutLine(m.Start-b.base(), m.End-b.base(), m.Perms))
	}
	return out
}

// file opens a temporary file of the given size (read-write, or
// read-only). Files with the same id share one path (one inode); each call
// opens a new description.
func (b *kernelBackend) file(t *testing.T, id int, writable bool, size uint64) *model.File {
	t.Helper()
	path, ok := b.paths[id]
	if !ok {
		path = t.TempDir() + "/f"
		b.paths[id] = path
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(path, int64(size)); err != nil {
		t.Fatal(err)
	}
	mode := os.O_RDONLY
	if writable {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(path, mode, 0)
	if err != nil {
		t.Fatal(err)
	}
	mf := &model.File{ID: id, Writable: writable, Size: size}
	b.fds[mf] = int(f.Fd())
	b.files = append(b.files, f)
	return mf
}

func (b *kernelBackend) close() {
	if err := b.h.Close(); err != nil {
		b.t.Errorf("closing harness: %v", err)
	}
	for _, f := range b.files {
		f.Close()
	}
}

func init() {
	kernelBackends = append(kernelBackends, func(t *testing.T) backend { return newKernelBackend(t) })
}
