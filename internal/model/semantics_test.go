package model_test

import (
	"testing"

	"github.com/vmsim/vmsim/internal/model"
)

// Behaviour tests that run against the model and, on Linux, the kernel.
// Each asserts a rule the simulator must reproduce.

func load(t *testing.T, b backend, addr uint64) byte {
	t.Helper()
	v, err := b.Load(addr)
	if err != 0 {
		t.Fatalf("load %#x: %s", addr-b.base(), err.Name())
	}
	return v
}

func store(t *testing.T, b backend, addr uint64, v byte) {
	t.Helper()
	if err := b.Store(addr, v); err != 0 {
		t.Fatalf("store %#x: %s", addr-b.base(), err.Name())
	}
}

func mmapOK(t *testing.T, b backend, off, pages uint64, prot, flags uint32, f *model.File, foff uint64) uint64 {
	t.Helper()
	addr, err := b.Mmap(b.base()+off*P, pages*P, prot, flags, f, foff)
	if err != 0 {
		t.Fatalf("mmap(%#x pages at %#x): %s", pages, off, err.Name())
	}
	return addr
}

func TestMergeAndSplit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := mmapOK(t, b, 0, 2, rw, fixedP, nil, 0)
		mmapOK(t, b, 2, 2, rw, fixedP, nil, 0)
		wantLayout(t, b, "0-4 rw-p") // adjacent, compatible: one VMA
		wantErrno(t, "mprotect middle", b.Mprotect(a+P, 2*P, model.ProtRead), 0)
		wantLayout(t, b, "0-1 rw-p", "1-3 r--p", "3-4 rw-p") // split in three
		wantErrno(t, "mprotect back", b.Mprotect(a+P, 2*P, rw), 0)
		wantLayout(t, b, "0-4 rw-p") // merged back
		// MAP_FIXED in the middle with the same attributes re-merges:
		// private anonymous pgoff follows the address.
		mmapOK(t, b, 1, 2, rw, fixedP, nil, 0)
		wantLayout(t, b, "0-4 rw-p")
		// Shared anonymous mappings never merge with each other...
		mmapOK(t, b, 10, 1, rw, model.MapShared|model.MapAnonymous|model.MapFixed, nil, 0)
		mmapOK(t, b, 11, 1, rw, model.MapShared|model.MapAnonymous|model.MapFixed, nil, 0)
		wantLayout(t, b, "0-4 rw-p", "a-b rw-s", "b-c rw-s")
		// ...but splits of one shmem object do merge again.
		s := mmapOK(t, b, 20, 3, rw, model.MapShared|model.MapAnonymous|model.MapFixed, nil, 0)
		wantErrno(t, "mprotect shm", b.Mprotect(s+P, P, model.ProtRead), 0)
		wantErrno(t, "mprotect shm back", b.Mprotect(s+P, P, rw), 0)
		wantLayout(t, b, "0-4 rw-p", "a-b rw-s", "b-c rw-s", "14-17 rw-s")
		// madvise flags split and merge too.
		wantErrno(t, "madvise random", b.Madvise(a+P, P, model.MadvRandom), 0)
		wantLayout(t, b, "0-1 rw-p", "1-2 rw-p", "2-4 rw-p", "a-b rw-s", "b-c rw-s", "14-17 rw-s")
		wantErrno(t, "madvise normal", b.Madvise(a, 4*P, model.MadvNormal), 0)
		wantLayout(t, b, "0-4 rw-p", "a-b rw-s", "b-c rw-s", "14-17 rw-s")
	})
}

// TestAccountSplits: VM_ACCOUNT, invisible in /proc/pid/maps, decides
// merging. A faulted private writable VMA keeps it when made read-only.
func TestAccountSplits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := mmapOK(t, b, 0, 2, rw, fixedP, nil, 0)
		store(t, b, a, 1) // anon_vma
		wantErrno(t, "mprotect", b.Mprotect(a, 2*P, model.ProtRead), 0)
		mmapOK(t, b, 2, 2, model.ProtRead, fixedP, nil, 0)
		wantLayout(t, b, "0-2 r--p", "2-4 r--p")

		c := mmapOK(t, b, 10, 2, rw, fixedP, nil, 0) // never faulted
		wantErrno(t, "mprotect", b.Mprotect(c, 2*P, model.ProtRead), 0)
		mmapOK(t, b, 12, 2, model.ProtRead, fixedP, nil, 0)
		wantLayout(t, b, "0-2 r--p", "2-4 r--p", "a-e r--p")

		// MAP_NORESERVE is a flag of its own.
		mmapOK(t, b, 20, 1, model.ProtRead, fixedP, nil, 0)
		mmapOK(t, b, 21, 1, model.ProtRead, fixedP|model.MapNoReserve, nil, 0)
		wantLayout(t, b, "0-2 r--p", "2-4 r--p", "a-e r--p", "14-15 r--p", "15-16 r--p")
	})
}

// TestAnonVMAReuse: a write fault reuses a compatible neighbour's
// anon_vma, so two separately faulted VMAs can merge later.
func TestAnonVMAReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const rwx = rw | model.ProtExec
		// B faulted first, then A next to it: A reuses B's anon_vma.
		a := mmapOK(t, b, 0, 2, rw, fixedP, nil, 0)
		bb := mmapOK(t, b, 2, 2, rwx, fixedP, nil, 0)
		store(t, b, bb, 1)
		store(t, b, a, 1)
		wantErrno(t, "mprotect", b.Mprotect(bb, 2*P, rw), 0)
		wantLayout(t, b, "0-4 rw-p")

		// Two anon_vmas made apart never merge.
		c := mmapOK(t, b, 10, 2, rw, fixedP, nil, 0)
		mmapOK(t, b, 12, 1, model.ProtRead, fixedP, nil, 0)
		d := mmapOK(t, b, 13, 2, rw, fixedP, nil, 0)
		store(t, b, c, 1)
		store(t, b, d, 1)
		wantErrno(t, "munmap", b.Munmap(b.base()+12*P, P), 0)
		mmapOK(t, b, 12, 1, rw, fixedP, nil, 0) // joins only one side
		wantLayout(t, b, "0-4 rw-p", "a-d rw-p", "d-f rw-p")
	})
}

func TestContents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := mmapOK(t, b, 0, 4, rw, fixedP, nil, 0)
		if v := load(t, b, a+5); v != 0 {
			t.Errorf("fresh private page reads %d", v)
		}
		store(t, b, a+5, 11)
		store(t, b, a+P+5, 12)
		wantErrno(t, "DONTNEED", b.Madvise(a, P, model.MadvDontneed), 0)
		if v := load(t, b, a+5); v != 0 {
			t.Errorf("after MADV_DONTNEED: %d, want 0", v)
		}
		if v := load(t, b, a+P+5); v != 12 {
			t.Errorf("page outside the DONTNEED range: %d, want 12", v)
		}
		// MREMAP_DONTUNMAP moves the pages and leaves the old range mapped
		// and empty.
		n, err := b.Mremap(a+P, P, P, model.MremapMaymove|model.MremapFixed|model.MremapDontunmap, b.base()+20*P)
		wantErrno(t, "DONTUNMAP", err, 0)
		if v := load(t, b, n+5); v != 12 {
			t.Errorf("moved page: %d, want 12", v)
		}
		if v := load(t, b, a+P+5); v != 0 {
			t.Errorf("old range after DONTUNMAP: %d, want 0", v)
		}
		// Shared anonymous memory stays shared: a duplicate made with
		// old_len 0 sees the same pages, and DONTNEED does not zero them.
		s := mmapOK(t, b, 30, 2, rw, model.MapShared|model.MapAnonymous|model.MapFixed, nil, 0)
		store(t, b, s+P+1, 33)
		dup, err := b.Mremap(s, 0, 2*P, model.MremapMaymove|model.MremapFixed, b.base()+40*P)
		wantErrno(t, "duplicate", err, 0)
		if v := load(t, b, dup+P+1); v != 33 {
			t.Errorf("duplicate reads %d, want 33", v)
		}
		store(t, b, dup+2, 44)
		wantErrno(t, "DONTNEED shared", b.Madvise(s, 2*P, model.MadvDontneed), 0)
		if v := load(t, b, s+2); v != 44 {
			t.Errorf("shared page after DONTNEED: %d, want 44", v)
		}
		// Growing a shared anonymous mapping leaves the tail beyond the
		// shmem object: SIGBUS (EIO from /proc/self/mem).
		g, err := b.Mremap(s, 2*P, 3*P, 0, 0)
		wantErrno(t, "grow shared", err, 0)
		if _, err := b.Load(g + 2*P); err != model.EIO {
			t.Errorf("load beyond the shmem object: %s, want EIO (SIGBUS)", err.Name())
		}
		// munmap forgets private pages.
		wantErrno(t, "munmap", b.Munmap(a, 4*P), 0)
		mmapOK(t, b, 0, 4, rw, fixedP, nil, 0)
		if v := load(t, b, a+P+5); v != 0 {
			t.Errorf("remapped page reads %d, want 0", v)
		}
	})
}

func TestFileContents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 2*P+10)
		sh := mmapOK(t, b, 0, 4, rw, model.MapShared|model.MapFixed, f, 0)
		pr := mmapOK(t, b, 10, 4, rw, model.MapPrivate|model.MapFixed, f, 0)
		store(t, b, sh+1, 5)
		if v := load(t, b, pr+1); v != 5 {
			t.Errorf("private mapping does not see the page cache: %d", v)
		}
		store(t, b, pr+1, 6) // copy-on-write
		if v := load(t, b, sh+1); v != 5 {
			t.Errorf("private write reached the file: %d", v)
		}
		wantErrno(t, "DONTNEED private file", b.Madvise(pr, P, model.MadvDontneed), 0)
		if v := load(t, b, pr+1); v != 5 {
			t.Errorf("after DONTNEED the private page reads %d, want the file's 5", v)
		}
		// The last partial page is mapped; the page after it is SIGBUS.
		if _, err := b.Load(sh + 2*P + 100); err != 0 {
			t.Errorf("partial last page: %s", err.Name())
		}
		if _, err := b.Load(sh + 3*P); err != model.EIO {
			t.Errorf("beyond EOF: %s, want EIO", err.Name())
		}
		// MADV_FREE is for private anonymous memory only.
		wantErrno(t, "MADV_FREE on a file", b.Madvise(pr, P, model.MadvFree), model.EINVAL)
	})
}

// TestPopulatePrivateFile: MAP_POPULATE faults a private writable file
// mapping in with FOLL_WRITE (populate_vma_page_range()), which breaks
// copy-on-write: every page within the file becomes a private copy, so
// later writes to the file are not seen through it. MAP_NONBLOCK turns
// the populate off, and a read-only mapping is populated for reading
// only: both still see the page cache.
func TestPopulatePrivateFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 2*P+10)
		sh := mmapOK(t, b, 0, 4, rw, model.MapShared|model.MapFixed, f, 0)
		store(t, b, sh+5, 1) // before the populate: copied
		pop := mmapOK(t, b, 10, 4, rw, model.MapPrivate|model.MapFixed|model.MapPopulate, f, 0)
		nonblock := mmapOK(t, b, 20, 4, rw, model.MapPrivate|model.MapFixed|model.MapPopulate|model.MapNonBlock, f, 0)
		ro := mmapOK(t, b, 30, 4, model.ProtRead, model.MapPrivate|model.MapFixed|model.MapPopulate, f, 0)
		for pg := uint64(0); pg < 3; pg++ {
			store(t, b, sh+pg*P+5, byte(10+pg)) // the last page is partial: 2P+5 < 2P+10
		}
		for pg := uint64(0); pg < 3; pg++ {
			want := byte(0)
			if pg == 0 {
				want = 1
			}
			if v := load(t, b, pop+pg*P+5); v != want {
				t.Errorf("populated private page %d reads %d, want its copy's %d", pg, v, want)
			}
			if v := load(t, b, nonblock+pg*P+5); v != byte(10+pg) {
				t.Errorf("MAP_POPULATE|MAP_NONBLOCK page %d reads %d, want the file's %d", pg, v, 10+pg)
			}
			if v := load(t, b, ro+pg*P+5); v != byte(10+pg) {
				t.Errorf("read-only populated page %d reads %d, want the file's %d", pg, v, 10+pg)
			}
		}
		// The page beyond EOF was not populated: still SIGBUS.
		if _, err := b.Load(pop + 3*P); err != model.EIO {
			t.Errorf("populated page beyond EOF: %s, want EIO", err.Name())
		}
	})
}

// TestTouchCopiesFilePage: a write fault (Touch) on a private file
// mapping copies the page (do_cow_fault()) without writing to it: from
// then on the mapping no longer sees the file's writes to that page, but
// still sees them on the pages it did not fault. A read fault copies
// nothing.
func TestTouchCopiesFilePage(t *testing.T) {
	m := model.New(model.Config{})
	f := &model.File{ID: 1, Writable: true, Size: 4 * P}
	sh, _ := m.Mmap(testBase, 4*P, rw, model.MapShared|model.MapFixed, f, 0)
	pr, _ := m.Mmap(testBase+16*P, 4*P, rw, model.MapPrivate|model.MapFixed, f, 0)
	m.Store(sh+5, 1)
	m.Touch(pr+5, true)
	m.Touch(pr+P+5, false)
	m.Store(sh+5, 2)
	m.Store(sh+P+5, 3)
	if v, _ := m.Load(pr + 5); v != 1 {
		t.Errorf("write-faulted page reads %d, want its copy's 1", v)
	}
	if v, _ := m.Load(pr + P + 5); v != 3 {
		t.Errorf("read-faulted page reads %d, want the file's 3", v)
	}
	if vs := m.VMAs(); vs[1].AnonID == 0 {
		t.Errorf("write fault left no anon_vma: %v", vs[1])
	}
}

// TestMapSyncOnFile: MAP_SYNC on a non-DAX file fails in the filesystem's
// mmap_prepare after the old range was zapped, so a failed MAP_FIXED
// leaves a hole.
func TestMapSyncOnFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.file(t, 1, true, 4*P)
		a := mmapOK(t, b, 0, 4, rw, fixedP, nil, 0)
		_, err := b.Mmap(a+P, 2*P, model.ProtRead, model.MapPrivate|model.MapFixed|model.MapSync, f, 0)
		wantErrno(t, "MAP_SYNC", err, model.EOPNOTSUPP)
		wantLayout(t, b, "0-1 rw-p", "3-4 rw-p")
		// Anonymous memory accepts MAP_SYNC, as a flag that stops merging.
		mmapOK(t, b, 1, 1, rw, fixedP|model.MapSync, nil, 0)
		wantLayout(t, b, "0-1 rw-p", "1-2 rw-p", "3-4 rw-p")
	})
}

func TestPartialEffects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := mmapOK(t, b, 0, 2, rw, fixedP, nil, 0)
		mmapOK(t, b, 3, 2, rw, fixedP, nil, 0)
		// mprotect changes the part before the hole, then fails.
		wantErrno(t, "mprotect over a hole", b.Mprotect(a, 5*P, model.ProtRead), model.ENOMEM)
		wantLayout(t, b, "0-2 r--p", "3-5 rw-p")
		// madvise skips the hole and carries on.
		wantErrno(t, "madvise over a hole", b.Madvise(a, 5*P, model.MadvRandom), model.ENOMEM)
		wantErrno(t, "mprotect after", b.Mprotect(a, 2*P, rw), 0)
		wantErrno(t, "madvise normal", b.Madvise(b.base()+3*P, P, model.MadvNormal), 0)
		wantLayout(t, b, "0-2 rw-p", "3-4 rw-p", "4-5 rw-p") // [4,5) kept MADV_RANDOM
		// mprotect stops at a VMA that refuses the protection.
		ro := b.file(t, 7, false, 4*P)
		mmapOK(t, b, 10, 1, model.ProtRead, fixedP, nil, 0)
		mmapOK(t, b, 11, 1, model.ProtRead, model.MapShared|model.MapFixed, ro, 0)
		mmapOK(t, b, 12, 1, model.ProtRead, fixedP|model.MapNoReserve, nil, 0)
		wantErrno(t, "mprotect into a read-only file", b.Mprotect(b.base()+10*P, 3*P, rw), model.EACCES)
		wantLayout(t, b, "0-2 rw-p", "3-4 rw-p", "4-5 rw-p", "a-b rw-p", "b-c r--s", "c-d r--p")
	})
}

func TestMremapSemantics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := mmapOK(t, b, 0, 4, rw, fixedP, nil, 0)
		mmapOK(t, b, 4, 2, model.ProtRead, fixedP, nil, 0)
		// A shrink may run across VMAs and holes.
		got, err := b.Mremap(a, 20*P, P, 0, 0)
		if err != 0 || got != a {
			t.Fatalf("shrink across: %#x %s", got, err.Name())
		}
		wantLayout(t, b, "0-1 rw-p")
		// Grow in place, merging with the next VMA.
		mmapOK(t, b, 3, 2, rw, fixedP, nil, 0)
		wantLayout(t, b, "0-1 rw-p", "3-5 rw-p")
		got, err = b.Mremap(a, P, 3*P, 0, 0)
		if err != 0 || got != a {
			t.Fatalf("grow: %#x %s", got, err.Name())
		}
		wantLayout(t, b, "0-5 rw-p")
		// A same-size MREMAP_FIXED move takes several VMAs and their gaps
		// (Linux 6.17+), leaving what the gaps cover at the target.
		mmapOK(t, b, 6, 1, model.ProtRead, fixedP, nil, 0)
		mmapOK(t, b, 25, 1, model.ProtExec, fixedP, nil, 0) // in the gap's shadow at the target
		got, err = b.Mremap(a, 7*P, 7*P, model.MremapMaymove|model.MremapFixed, b.base()+20*P)
		if err != 0 || got != b.base()+20*P {
			t.Fatalf("multi-VMA move: %#x %s", got, err.Name())
		}
		wantLayout(t, b, "14-19 rw-p", "19-1a --xp", "1a-1b r--p")
		// Private duplicates are refused.
		_, err = b.Mremap(b.base()+20*P, 0, P, model.MremapMaymove, 0)
		wantErrno(t, "private duplicate", err, model.EINVAL)
	})
}

func TestClone(t *testing.T) {
	m := model.New(model.Config{})
	a := mustMmap(t, m, testBase, 2*P, rw, fixedP)
	if err := m.Store(a, 1); err != 0 {
		t.Fatal(err)
	}
	c := m.Clone()
	if err := c.Store(a, 2); err != 0 {
		t.Fatal(err)
	}
	if e := c.Mprotect(a, P, model.ProtRead); e != 0 {
		t.Fatal(e)
	}
	if v, _ := m.Load(a); v != 1 {
		t.Errorf("clone's store reached the original: %d", v)
	}
	if len(m.VMAs()) != 1 || len(c.VMAs()) != 2 {
		t.Errorf("layouts not independent: %v / %v", m.VMAs(), c.VMAs())
	}
	if v, _ := c.Load(a); v != 2 {
		t.Errorf("clone reads %d", v)
	}
}

// TestLazyFree: MADV_FREE keeps the contents in the model and says that a
// real kernel may have dropped them; a store makes the page definite again.
func TestLazyFree(t *testing.T) {
	m := model.New(model.Config{})
	a := mustMmap(t, m, testBase, 2*P, rw, fixedP)
	m.Store(a, 5)
	if e := m.Madvise(a, 2*P, model.MadvFree); e != 0 {
		t.Fatal(e)
	}
	if v, _ := m.Load(a); v != 5 || !m.LazyFree(a) || m.LazyFree(a+P) {
		t.Errorf("after MADV_FREE: value %d, lazy %v %v", v, m.LazyFree(a), m.LazyFree(a+P))
	}
	m.Store(a+1, 6)
	if m.LazyFree(a) {
		t.Error("a written page is still lazily freed")
	}
}
