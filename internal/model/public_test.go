package model_test

import (
	"slices"
	"testing"

	"github.com/vmsim/vmsim/internal/model"
)

// Tests that mirror public test suites (Linux kselftests, LTP). Each runs
// against the model and, on Linux, against the real kernel in a private
// window (kernelBackends is set by backend_linux_test.go). Cases whose
// addresses lie outside any safe window (above TASK_SIZE) run on the model
// only; the harness refuses them.

// kernelBackends returns the real-kernel backends available on this
// platform; nil elsewhere.
var kernelBackends []func(t *testing.T) backend

// forEachBackend runs f in a subtest against the model and every kernel
// backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	makers := append([]func(t *testing.T) backend{
		func(*testing.T) backend { return newModelBackend(model.Config{}) },
	}, kernelBackends...)
	for i, mk := range makers {
		name := "model"
		if i > 0 {
			name = "kernel"
		}
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			defer b.close()
			f(t, b)
		})
	}
}

const (
	rw     = model.ProtRead | model.ProtWrite
	anonP  = model.MapPrivate | model.MapAnonymous
	fixedP = model.MapPrivate | model.MapAnonymous | model.MapFixed
)

func wantErrno(t *testing.T, what string, got, want model.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s: errno %s, want %s", what, got.Name(), want.Name())
	}
}

func wantLayout(t *testing.T, b backend, want ...string) {
	t.Helper()
	if got := b.layout(); !slices.Equal(got, want) {
		t.Errorf("layout %q, want %q", got, want)
	}
}

// TestSelftestMapFixedNoreplace mirrors
// tools/testing/selftests/mm/map_fixed_noreplace.c.
func TestSelftestMapFixedNoreplace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.base()
		flags := anonP | model.MapFixedNoreplace
		mustMap := func(addr, n uint64) {
			t.Helper()
			if got, err := b.Mmap(addr, n*P, model.ProtNone, flags, nil, 0); err != 0 || got != addr {
				t.Fatalf("mmap(%#x, %d pages) = %#x, %s", addr-base, n, got, err.Name())
			}
		}
		mustMap(base, 5)
		wantErrno(t, "munmap", b.Munmap(base, 5*P), 0)
		mustMap(base, 5)
		wantErrno(t, "munmap first", b.Munmap(base, P), 0)
		wantErrno(t, "munmap last", b.Munmap(base+4*P, P), 0)
		wantLayout(t, b, "1-4 ---p")
		for _, c := range []struct {
			name   string
			off, n uint64
		}{
			{"exactly the existing mapping", 1, 3},
			{"overlapping its end", 2, 3},
			{"inside it", 2, 1},
			{"overlapping its start", 0, 2},
			{"covering it", 0, 5},
		} {
			_, err := b.Mmap(base+c.off*P, c.n*P, model.ProtNone, flags, nil, 0)
			wantErrno(t, c.name, err, model.EEXIST)
		}
		mustMap(base, 1)             // adjacent below: allowed
		mustMap(base+4*P, 1)         // adjacent above: allowed
		wantLayout(t, b, "0-5 ---p") // and all of it merges
		wantErrno(t, "munmap all", b.Munmap(base, 5*P), 0)
	})
}

// TestLTPMmap06 mirrors LTP testcases/kernel/syscalls/mmap/mmap06.c
// (EACCES and EINVAL cases; the model has no write-only descriptors, so
// the O_WRONLY case is replaced by the read-only MAP_SHARED|PROT_WRITE
// case of mmap07/mprotect01).
func TestLTPMmap06(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 4*P)
		ro := b.file(t, 1, false, 4*P)
		_, err := b.Mmap(0, P, rw, model.MapShared, ro, 0)
		wantErrno(t, "shared writable map of read-only fd", err, model.EACCES)
		_, err = b.Mmap(0, 0, model.ProtRead, model.MapShared, f, 0)
		wantErrno(t, "zero length", err, model.EINVAL)
		_, err = b.Mmap(0, P, model.ProtRead, 0, f, 0)
		wantErrno(t, "neither MAP_SHARED nor MAP_PRIVATE", err, model.EINVAL)
		_, err = b.Mmap(0, P, model.ProtRead, model.MapShared, f, 100)
		wantErrno(t, "unaligned offset", err, model.EINVAL)
		_, err = b.Mmap(0, P, model.ProtRead, model.MapShared, nil, 0)
		wantErrno(t, "bad fd", err, model.EBADF)
		// A private writable map of a read-only descriptor is fine.
		addr, err := b.Mmap(b.base(), P, rw, model.MapPrivate|model.MapFixed, ro, 0)
		wantErrno(t, "private writable map of read-only fd", err, 0)
		wantErrno(t, "store to it", b.Store(addr, 1), 0)
	})
}

// TestLTPMmap15 mirrors LTP mmap15.c: MAP_FIXED at a high address (just
// below 2^64) is ENOMEM. Model only: the kernel window cannot contain it.
func TestLTPMmap15(t *testing.T) {
	m := model.New(model.Config{})
	f := &model.File{ID: 1, Writable: true, Size: P}
	_, err := m.Mmap(^uint64(P-1), P, model.ProtRead, model.MapShared|model.MapFixed, f, 0)
	wantErrno(t, "MAP_FIXED at -PAGE_SIZE", err, model.ENOMEM)
	_, err = m.Mmap(model.DefaultTaskSize, P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "MAP_FIXED at TASK_SIZE", err, model.ENOMEM)
	_, err = m.Mmap(model.DefaultTaskSize-P, P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "MAP_FIXED of the last user page", err, 0)
}

// TestLTPMmap17 mirrors LTP mmap17.c: MAP_FIXED_NOREPLACE over an existing
// file mapping is EEXIST and leaves it alone.
func TestLTPMmap17(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 4*P)
		addr, err := b.Mmap(b.base(), 2*P, rw, model.MapShared|model.MapFixed, f, 0)
		wantErrno(t, "first map", err, 0)
		wantErrno(t, "store", b.Store(addr, 42), 0)
		_, err = b.Mmap(addr, 2*P, rw, model.MapShared|model.MapFixedNoreplace, f, 0)
		wantErrno(t, "MAP_FIXED_NOREPLACE over it", err, model.EEXIST)
		if v, err := b.Load(addr); err != 0 || v != 42 {
			t.Errorf("load after EEXIST = %d, %s; want 42", v, err.Name())
		}
		wantLayout(t, b, "0-2 rw-s")
	})
}

// TestLTPMmap20 mirrors LTP mmap20.c: MAP_SHARED_VALIDATE rejects unknown
// flags with EOPNOTSUPP, where MAP_SHARED ignores them.
func TestLTPMmap20(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 4*P)
		const invalid = 1 << 10
		_, err := b.Mmap(0, P, rw, model.MapSharedValidate|invalid, f, 0)
		wantErrno(t, "MAP_SHARED_VALIDATE|1<<10", err, model.EOPNOTSUPP)
		_, err = b.Mmap(b.base(), P, rw, model.MapShared|model.MapFixed|invalid, f, 0)
		wantErrno(t, "MAP_SHARED|1<<10", err, 0)
		// Not an LTP case, but the same rule: MAP_FIXED_NOREPLACE is not in
		// LEGACY_MAP_MASK.
		_, err = b.Mmap(b.base()+4*P, P, rw, model.MapSharedValidate|model.MapFixedNoreplace, f, 0)
		wantErrno(t, "MAP_SHARED_VALIDATE|MAP_FIXED_NOREPLACE", err, model.EOPNOTSUPP)
		// Anonymous memory has no mmap_validate: the type itself is EINVAL.
		_, err = b.Mmap(b.base()+8*P, P, rw, model.MapSharedValidate|model.MapAnonymous|model.MapFixed, nil, 0)
		wantErrno(t, "anonymous MAP_SHARED_VALIDATE", err, model.EINVAL)
	})
}

// TestLTPMunmap03 mirrors LTP munmap03.c: EINVAL for an unaligned address,
// a zero length, and a range beyond TASK_SIZE (model only).
func TestLTPMunmap03(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		addr, err := b.Mmap(b.base(), 2*P, rw, model.MapShared|model.MapAnonymous|model.MapFixed, nil, 0)
		wantErrno(t, "mmap", err, 0)
		wantErrno(t, "unaligned", b.Munmap(addr+1, P), model.EINVAL)
		wantErrno(t, "zero length", b.Munmap(addr, 0), model.EINVAL)
		wantErrno(t, "unmapped range", b.Munmap(addr+10*P, P), 0)
		wantLayout(t, b, "0-2 rw-s")
	})
	m := model.New(model.Config{})
	wantErrno(t, "beyond TASK_SIZE", m.Munmap(model.DefaultTaskSize-P, 2*P), model.EINVAL)
	wantErrno(t, "start above TASK_SIZE", m.Munmap(model.DefaultTaskSize+P, P), model.EINVAL)
}

// TestLTPMprotect01 mirrors LTP mprotect01.c: ENOMEM for an unmapped
// range, EINVAL for an unaligned address, EACCES for PROT_WRITE on a
// MAP_SHARED mapping of a read-only file.
func TestLTPMprotect01(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ro := b.file(t, 1, false, 4*P)
		wantErrno(t, "unmapped", b.Mprotect(b.base()+20*P, P, model.ProtRead), model.ENOMEM)
		addr, err := b.Mmap(b.base(), 2*P, model.ProtRead, model.MapShared|model.MapFixed, ro, 0)
		wantErrno(t, "mmap", err, 0)
		wantErrno(t, "unaligned", b.Mprotect(addr+1, P, model.ProtRead), model.EINVAL)
		wantErrno(t, "PROT_WRITE on read-only shared file", b.Mprotect(addr, P, rw), model.EACCES)
		wantLayout(t, b, "0-2 r--s")
	})
}

// TestLTPMremap02To05 mirrors LTP mremap02.c (EINVAL: unaligned old
// address), mremap03.c (EFAULT: old range not mapped), mremap04.c
// (ENOMEM: cannot grow in place without MREMAP_MAYMOVE) and mremap05.c
// (MREMAP_FIXED: needs MREMAP_MAYMOVE, an aligned new address, no overlap;
// moves the contents and replaces what was at the target).
func TestLTPMremap02To05(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.base()
		addr, err := b.Mmap(base, 2*P, rw, fixedP, nil, 0)
		wantErrno(t, "mmap", err, 0)
		wantErrno(t, "store", b.Store(addr+P, 7), 0)

		_, err = b.Mremap(addr+1, P, 2*P, model.MremapMaymove, 0)
		wantErrno(t, "mremap02: unaligned old address", err, model.EINVAL)
		_, err = b.Mremap(base+40*P, P, 2*P, model.MremapMaymove, 0)
		wantErrno(t, "mremap03: old range not mapped", err, model.EFAULT)
		_, err = b.Mremap(addr, 3*P, 4*P, model.MremapMaymove|model.MremapFixed, base+50*P)
		wantErrno(t, "mremap03: resized old range runs past its VMA", err, model.EFAULT)

		_, err = b.Mmap(base+2*P, P, model.ProtRead, fixedP, nil, 0) // block in-place growth
		wantErrno(t, "mmap blocker", err, 0)
		_, err = b.Mremap(addr, 2*P, 3*P, 0, 0)
		wantErrno(t, "mremap04: cannot grow in place", err, model.ENOMEM)

		_, err = b.Mremap(addr, 2*P, 2*P, model.MremapFixed, base+10*P)
		wantErrno(t, "mremap05: MREMAP_FIXED without MREMAP_MAYMOVE", err, model.EINVAL)
		_, err = b.Mremap(addr, 2*P, 2*P, model.MremapFixed|model.MremapMaymove, base+10*P+1)
		wantErrno(t, "mremap05: unaligned new address", err, model.EINVAL)
		_, err = b.Mremap(addr, 2*P, 2*P, model.MremapFixed|model.MremapMaymove, addr+P)
		wantErrno(t, "mremap05: overlapping ranges", err, model.EINVAL)

		_, err = b.Mmap(base+10*P, 3*P, model.ProtRead|model.ProtExec, fixedP, nil, 0) // to be replaced
		wantErrno(t, "mmap target", err, 0)
		// Since Linux 6.17 a same-size MREMAP_FIXED move may span VMAs
		// and holes (remap_move()); only a hole at the start is EFAULT.
		_, err = b.Mremap(base+5*P, 6*P, 6*P, model.MremapMaymove|model.MremapFixed, base+50*P)
		wantErrno(t, "mremap03: hole at the start of a move", err, model.EFAULT)
		got, err := b.Mremap(addr, 2*P, 2*P, model.MremapFixed|model.MremapMaymove, base+10*P)
		if err != 0 || got != base+10*P {
			t.Fatalf("mremap05: move = %#x, %s", got, err.Name())
		}
		if v, err := b.Load(base + 11*P); err != 0 || v != 7 {
			t.Errorf("moved contents = %d, %s; want 7", v, err.Name())
		}
		if _, err := b.Load(addr); err != model.EFAULT && err != model.EIO {
			t.Errorf("old range still readable: %s", err.Name())
		}
		wantLayout(t, b, "2-3 r--p", "a-c rw-p", "c-d r-xp")
	})
}

// TestLTPMadvise02 mirrors the cases of LTP madvise02.c the model
// implements: EINVAL for an unaligned address and for an invalid advice,
// ENOMEM for a range that is (partly) not mapped.
func TestLTPMadvise02(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		addr, err := b.Mmap(b.base(), 4*P, rw, fixedP, nil, 0)
		wantErrno(t, "mmap", err, 0)
		wantErrno(t, "unaligned", b.Madvise(addr+1, P, model.MadvNormal), model.EINVAL)
		wantErrno(t, "invalid advice", b.Madvise(addr, P, 1212), model.EINVAL)
		wantErrno(t, "unmapped", b.Madvise(addr+10*P, P, model.MadvNormal), model.ENOMEM)
		wantErrno(t, "partly unmapped", b.Madvise(addr, 8*P, model.MadvWillneed), model.ENOMEM)
		wantErrno(t, "zero length", b.Madvise(addr+10*P, 0, model.MadvDontneed), 0)
	})
}
