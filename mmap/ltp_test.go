package mmap_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

// Tests that mirror public test suites — the kernel's
// tools/testing/selftests/mm and the Linux Test Project's
// testcases/kernel/syscalls — run against an AddressSpace under every
// policy. internal/model has the same cases against the model and the
// real kernel; here the simulator must give the same answers.

const (
	rw      = mmap.ProtRead | mmap.ProtWrite
	anonP   = mmap.MapPrivate | mmap.MapAnonymous
	fixedP  = anonP | mmap.MapFixed
	ltpBase = uint64(1 << 32) // a free area for MAP_FIXED
)

// forEachPolicyAS runs f on a fresh AddressSpace per policy and checks its
// invariants afterwards.
func forEachPolicyAS(t *testing.T, cfg mmap.Config, f func(t *testing.T, as *mmap.AddressSpace)) {
	t.Helper()
	for _, pol := range diffPolicies {
		t.Run(pol.String(), func(t *testing.T) {
			c := cfg
			c.Policy = pol
			as, err := mmap.New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer as.Close()
			f(t, as)
			if err := as.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// wantErr checks that err is the errno want (nil for success), as
// errors.Is sees it.
func wantErr(t *testing.T, what string, err error, want mmap.Errno) {
	t.Helper()
	switch {
	case want == 0 && err != nil:
		t.Errorf("%s: %v, want success", what, err)
	case want != 0 && !errors.Is(err, want):
		t.Errorf("%s: %v, want %s", what, err, errName(want))
	}
}

// layoutOf returns the mappings in the GiB at base as "start-end perms"
// strings, in pages relative to base.
func layoutOf(as *mmap.AddressSpace, base uint64) []string {
	var out []string
	for _, m := range as.Mappings() {
		if m.End <= base || m.Start >= base+1<<30 {
			continue
		}
		share := "p"
		if m.Shared {
			share = "s"
		}
		out = append(out, fmt.Sprintf("%x-%x %v%s", (m.Start-base)/pg, (m.End-base)/pg, m.Prot, share))
	}
	return out
}

func wantLayout(t *testing.T, as *mmap.AddressSpace, base uint64, want ...string) {
	t.Helper()
	if got := layoutOf(as, base); !slices.Equal(got, want) {
		t.Errorf("layout %q, want %q", got, want)
	}
}

// ltpFile returns a file of n bytes filled with c, opened read-write.
func ltpFile(name string, n int, c byte) *mmap.File {
	data := make([]byte, n)
	for i := range data {
		data[i] = c
	}
	return mmap.NewFile(name, data, mmap.FileOptions{})
}

// TestSelftestMapFixedNoreplace mirrors
// tools/testing/selftests/mm/map_fixed_noreplace.c: map 5 pages with
// MAP_FIXED_NOREPLACE where a hint-less mmap found room, unmap them, map
// the 3 pages in the middle, then every request that overlaps those 3
// pages fails with EEXIST and the two that only touch them succeed.
func TestSelftestMapFixedNoreplace(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		const flags = anonP | mmap.MapFixedNoreplace
		// find_base_addr(): a hint-less mapping, unmapped again.
		base, err := as.Mmap(0, 5*pg, mmap.ProtNone, anonP, nil, 0)
		wantErr(t, "find_base_addr mmap", err, 0)
		wantErr(t, "find_base_addr munmap", as.Munmap(base, 5*pg), 0)
		try := func(what string, off, pages uint64, want mmap.Errno) {
			t.Helper()
			p, err := as.Mmap(base+off*pg, pages*pg, mmap.ProtNone, flags, nil, 0)
			wantErr(t, what, err, want)
			if want == 0 && p != base+off*pg {
				t.Errorf("%s: mapped at %#x, want %#x", what, p, base+off*pg)
			}
		}
		try("5 pages at base", 0, 5, 0)
		wantErr(t, "munmap", as.Munmap(base, 5*pg), 0)
		try("3 pages in the middle", 1, 3, 0)
		try("the whole 5 pages again", 0, 5, mmap.EEXIST)
		try("one page inside", 2, 1, mmap.EEXIST)
		try("overlapping the end", 3, 2, mmap.EEXIST)
		try("overlapping the start", 0, 2, mmap.EEXIST)
		wantLayout(t, as, base, "1-4 ---p")
		try("the page below", 0, 1, 0)
		try("the page above", 4, 1, 0)
		wantLayout(t, as, base, "0-5 ---p") // all three merge
		wantErr(t, "munmap all", as.Munmap(base, 5*pg), 0)
		wantLayout(t, as, base)
	})
}

// TestLTPMmap06 mirrors LTP mmap/mmap06.c (2023 version): EACCES for a
// file whose descriptor does not allow the mapping, EINVAL for a zero
// length and for flags with none of MAP_PRIVATE, MAP_SHARED or
// MAP_SHARED_VALIDATE. vmsim's files are always readable, so the O_WRONLY
// case becomes its twin, PROT_WRITE|MAP_SHARED on an O_RDONLY open
// (mmap07.c, and POSIX mmap/6-4.c).
func TestLTPMmap06(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f := ltpFile("mmapfile", 1024, 'A')
		ro := f.OpenReadOnly()
		_, err := as.Mmap(0, pg, rw, mmap.MapShared, ro, 0)
		wantErr(t, "MAP_SHARED|PROT_WRITE of an O_RDONLY file", err, mmap.EACCES)
		_, err = as.Mmap(0, 0, mmap.ProtRead, mmap.MapShared, f, 0)
		wantErr(t, "length 0", err, mmap.EINVAL)
		_, err = as.Mmap(0, pg, mmap.ProtRead, 0, f, 0)
		wantErr(t, "no map type", err, mmap.EINVAL)
		// Not an error: a private writable map of a read-only open.
		p, err := as.Mmap(0, pg, rw, mmap.MapPrivate, ro, 0)
		wantErr(t, "MAP_PRIVATE|PROT_WRITE of an O_RDONLY file", err, 0)
		th := as.NewThread()
		defer th.Close()
		wantErr(t, "store to it", th.Write(p, []byte{'B'}), 0)
		var b [1]byte
		if _, err := ro.ReadAt(b[:], 0); err != nil || b[0] != 'A' {
			t.Errorf("the file changed through a private mapping: %q, %v", b[0], err)
		}
	})
}

// TestLTPMmap15 mirrors LTP mmap/mmap15.c: MAP_FIXED at an address the
// user address space cannot hold is ENOMEM (its 64-bit case maps at
// 1<<53; the edges around TASK_SIZE are added).
func TestLTPMmap15(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f := ltpFile("mmapfile", pg, 0)
		for _, c := range []struct {
			addr uint64
			want mmap.Errno
		}{
			{1 << 53, mmap.ENOMEM},
			{^uint64(pg - 1), mmap.ENOMEM}, // -PAGE_SIZE
			{mmap.TaskSize, mmap.ENOMEM},
			{mmap.TaskSize - pg, 0}, // the last user page
		} {
			_, err := as.Mmap(c.addr, pg, rw, mmap.MapShared|mmap.MapFixed, f, 0)
			wantErr(t, fmt.Sprintf("MAP_FIXED at %#x", c.addr), err, c.want)
		}
	})
}

// TestLTPMmap17 mirrors LTP mmap/mmap17.c: a hint-less file mapping, then
// MAP_FIXED_NOREPLACE of another file at the same address fails with
// EEXIST and leaves the first mapping and its contents alone.
func TestLTPMmap17(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f1 := ltpFile("file1", pg, 'a')
		f2 := ltpFile("file2", pg, 'b')
		p, err := as.Mmap(0, pg, rw, mmap.MapShared, f1, 0)
		wantErr(t, "first mapping", err, 0)
		_, err = as.Mmap(p, pg, rw, mmap.MapShared|mmap.MapFixedNoreplace, f2, 0)
		wantErr(t, "MAP_FIXED_NOREPLACE over it", err, mmap.EEXIST)
		th := as.NewThread()
		defer th.Close()
		var b [1]byte
		if err := th.Read(p, b[:]); err != nil || b[0] != 'a' {
			t.Errorf("after EEXIST the mapping reads %q, %v; want 'a'", b[0], err)
		}
		if ms := as.Mappings(); len(ms) != 1 || ms[0].Name != "file1" {
			t.Errorf("mappings %+v, want the one of file1", ms)
		}
	})
}

// TestLTPMmap20 mirrors LTP mmap/mmap20.c: MAP_SHARED_VALIDATE refuses an
// unknown flag with EOPNOTSUPP, where MAP_SHARED ignores it. Also from
// LEGACY_MAP_MASK: MAP_FIXED_NOREPLACE is not in it, and anonymous memory
// has no MAP_SHARED_VALIDATE (EINVAL).
func TestLTPMmap20(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f := ltpFile("mmapfile", 4*pg, 0)
		const invalid = mmap.Flag(1 << 10)
		_, err := as.Mmap(0, pg, rw, mmap.MapSharedValidate|invalid, f, 0)
		wantErr(t, "MAP_SHARED_VALIDATE|1<<10", err, mmap.EOPNOTSUPP)
		_, err = as.Mmap(0, pg, rw, mmap.MapShared|invalid, f, 0)
		wantErr(t, "MAP_SHARED|1<<10", err, 0)
		_, err = as.Mmap(ltpBase, pg, rw, mmap.MapSharedValidate|mmap.MapFixedNoreplace, f, 0)
		wantErr(t, "MAP_SHARED_VALIDATE|MAP_FIXED_NOREPLACE", err, mmap.EOPNOTSUPP)
		_, err = as.Mmap(ltpBase, pg, rw, mmap.MapSharedValidate|mmap.MapAnonymous|mmap.MapFixed, nil, 0)
		wantErr(t, "anonymous MAP_SHARED_VALIDATE", err, mmap.EINVAL)
		// MAP_SYNC is accepted by validation but refused by a file
		// without DAX, after the old range was unmapped.
		_, err = as.Mmap(ltpBase, 2*pg, rw, fixedP, nil, 0)
		wantErr(t, "mmap to be replaced", err, 0)
		_, err = as.Mmap(ltpBase, pg, rw, mmap.MapSharedValidate|mmap.MapSync|mmap.MapFixed, f, 0)
		wantErr(t, "MAP_SHARED_VALIDATE|MAP_SYNC of a file", err, mmap.EOPNOTSUPP)
		wantLayout(t, as, ltpBase, "1-2 rw-p") // the first page is gone
	})
}

// TestLTPMunmap03 mirrors LTP munmap/munmap03.c: EINVAL for a range
// outside the address space (its address is RLIMIT_DATA's rlim_max,
// RLIM_INFINITY), for a zero length and for an unaligned address.
func TestLTPMunmap03(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		p, err := as.Mmap(0, 2*pg, rw, anonP, nil, 0)
		wantErr(t, "mmap", err, 0)
		wantErr(t, "outside the address space", as.Munmap(^uint64(0), 2*pg), mmap.EINVAL)
		wantErr(t, "beyond TASK_SIZE", as.Munmap(mmap.TaskSize-pg, 2*pg), mmap.EINVAL)
		wantErr(t, "length 0", as.Munmap(p, 0), mmap.EINVAL)
		wantErr(t, "unaligned", as.Munmap(p+1, pg), mmap.EINVAL)
		wantErr(t, "an unmapped range is fine", as.Munmap(p+16*pg, pg), 0)
		if ms := as.Mappings(); len(ms) != 1 || ms[0].Start != p || ms[0].Len() != 2*pg {
			t.Errorf("mappings %+v, want the 2 pages at %#x", ms, p)
		}
	})
}

// TestLTPMunmap04 mirrors LTP munmap/munmap04.c (2025): with
// max_map_count 65530, map 3-page PROT_NONE regions two regions apart
// with MAP_FIXED_NOREPLACE until mmap fails, then unmapping the middle
// page of one of them (a split in three) fails with ENOMEM. Under the
// race detector, or with -short, the limit is 4096: mapping 65531
// regions per policy would take seconds, and the limit's logic does not
// depend on its value.
func TestLTPMunmap04(t *testing.T) {
	limit := 65530
	if raceEnabled || testing.Short() {
		limit = 4096
	}
	forEachPolicyAS(t, mmap.Config{MaxMapCount: limit}, func(t *testing.T, as *mmap.AddressSpace) {
		const vmaSize = 3 * pg
		var maps []uint64
		for {
			p, err := as.Mmap(ltpBase+2*vmaSize*uint64(len(maps)), vmaSize, mmap.ProtNone,
				anonP|mmap.MapFixedNoreplace, nil, 0)
			if err != nil {
				wantErr(t, "the mmap that stops the loop", err, mmap.ENOMEM)
				break
			}
			maps = append(maps, p)
		}
		// Linux lets the count reach max_map_count+1 (do_mmap() fails
		// only above the limit).
		if len(maps) != limit+1 {
			t.Errorf("mapped %d regions, want %d", len(maps), limit+1)
		}
		wantErr(t, "munmap of a middle page", as.Munmap(maps[2]+pg, pg), mmap.ENOMEM)
		wantErr(t, "munmap of a whole region", as.Munmap(maps[2], vmaSize), 0)
	})
}

// TestLTPMprotect01 mirrors LTP mprotect/mprotect01.c: ENOMEM for a range
// that is not mapped, EINVAL for an unaligned address, EACCES for
// PROT_WRITE on a MAP_SHARED mapping of a file opened read-only.
func TestLTPMprotect01(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f := ltpFile("mprotect01", pg, 'x')
		ro := f.OpenReadOnly()
		wantErr(t, "unmapped", as.Mprotect(ltpBase+20*pg, pg, mmap.ProtRead), mmap.ENOMEM)
		p, err := as.Mmap(ltpBase, 2*pg, mmap.ProtRead, mmap.MapShared|mmap.MapFixed, ro, 0)
		wantErr(t, "mmap", err, 0)
		wantErr(t, "unaligned", as.Mprotect(p+1, pg, mmap.ProtRead), mmap.EINVAL)
		wantErr(t, "PROT_WRITE on a read-only shared file", as.Mprotect(p, pg, rw), mmap.EACCES)
		wantErr(t, "PROT_EXEC is fine", as.Mprotect(p, pg, mmap.ProtRead|mmap.ProtExec), 0)
		wantLayout(t, as, ltpBase, "0-1 r-xs", "1-2 r--s")
	})
}

// TestLTPMremap02To05 mirrors LTP mremap/mremap02.c (EINVAL: old address
// not page-aligned), mremap03.c (EFAULT: the old range is not mapped),
// mremap04.c (ENOMEM: cannot grow in place without MREMAP_MAYMOVE) and
// mremap05.c (MREMAP_FIXED: EINVAL without MREMAP_MAYMOVE, for an
// unaligned new address and for overlapping ranges; a move keeps the
// contents, unmaps the source and replaces what was at the target).
func TestLTPMremap02To05(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		th := as.NewThread()
		defer th.Close()
		base := ltpBase
		p, err := as.Mmap(base, 2*pg, rw, fixedP, nil, 0)
		wantErr(t, "mmap", err, 0)
		wantErr(t, "store", th.Write(p+pg, []byte{7}), 0)

		_, err = as.Mremap(p+1, pg, 2*pg, mmap.MremapMaymove, 0)
		wantErr(t, "mremap02: unaligned old address", err, mmap.EINVAL)
		_, err = as.Mremap(base+40*pg, pg, 2*pg, mmap.MremapMaymove, 0)
		wantErr(t, "mremap03: old range not mapped", err, mmap.EFAULT)
		_, err = as.Mremap(p, 3*pg, 4*pg, mmap.MremapMaymove|mmap.MremapFixed, base+50*pg)
		wantErr(t, "mremap03: old range runs past its VMA", err, mmap.EFAULT)

		_, err = as.Mmap(base+2*pg, pg, mmap.ProtRead, fixedP, nil, 0) // blocks growth in place
		wantErr(t, "mmap blocker", err, 0)
		_, err = as.Mremap(p, 2*pg, 3*pg, 0, 0)
		wantErr(t, "mremap04: cannot grow in place", err, mmap.ENOMEM)

		_, err = as.Mremap(p, 2*pg, 2*pg, mmap.MremapFixed, base+10*pg)
		wantErr(t, "mremap05: MREMAP_FIXED without MREMAP_MAYMOVE", err, mmap.EINVAL)
		_, err = as.Mremap(p, 2*pg, 2*pg, mmap.MremapFixed|mmap.MremapMaymove, base+10*pg+1)
		wantErr(t, "mremap05: unaligned new address", err, mmap.EINVAL)
		_, err = as.Mremap(p, 2*pg, 2*pg, mmap.MremapFixed|mmap.MremapMaymove, p+pg)
		wantErr(t, "mremap05: overlapping ranges", err, mmap.EINVAL)

		_, err = as.Mmap(base+10*pg, 3*pg, mmap.ProtRead|mmap.ProtExec, fixedP, nil, 0) // to be replaced
		wantErr(t, "mmap target", err, 0)
		// Since Linux 6.17 a same-size MREMAP_FIXED move may span VMAs
		// and holes (remap_move()); only a hole at the start is EFAULT.
		_, err = as.Mremap(base+5*pg, 6*pg, 6*pg, mmap.MremapMaymove|mmap.MremapFixed, base+50*pg)
		wantErr(t, "mremap03: a hole at the start of a move", err, mmap.EFAULT)
		got, err := as.Mremap(p, 2*pg, 2*pg, mmap.MremapFixed|mmap.MremapMaymove, base+10*pg)
		wantErr(t, "mremap05: move", err, 0)
		if got != base+10*pg {
			t.Fatalf("mremap05: moved to %#x, want %#x", got, base+10*pg)
		}
		var b [1]byte
		if err := th.Read(base+11*pg, b[:]); err != nil || b[0] != 7 {
			t.Errorf("moved contents %d, %v; want 7", b[0], err)
		}
		var se *mmap.SignalError
		if err := th.Read(p, b[:]); !errors.As(err, &se) || se.Code != mmap.SegvMaperr {
			t.Errorf("the old range still reads: %v", err)
		}
		wantLayout(t, as, base, "2-3 r--p", "a-c rw-p", "c-d r-xp")
	})
}

// TestLTPMadvise02 mirrors the cases of LTP madvise/madvise02.c that
// vmsim can express: EINVAL for an unaligned start and for an invalid
// advice, ENOMEM for a range that is partly unmapped (applied to the
// mapped part all the same). Its mlock case (EINVAL for MADV_DONTNEED on
// locked pages) has no counterpart: vmsim has no mlock. Its EBADF case
// (MADV_WILLNEED on anonymous memory) is 0 on kernels with CONFIG_SWAP,
// which LTP checks for, and on vmsim.
func TestLTPMadvise02(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		f := ltpFile("madvise02", 16*pg, 'z')
		file, err := as.Mmap(0, 16*pg, mmap.ProtRead, mmap.MapShared, f, 0)
		wantErr(t, "mmap file", err, 0)
		wantErr(t, "unaligned start", as.Madvise(file+100, 16*pg, mmap.MadvNormal), mmap.EINVAL)
		wantErr(t, "invalid advice", as.Madvise(file, 16*pg, 1212), mmap.EINVAL)
		// Two halves, the higher one unmapped: ENOMEM, but the lower
		// half is still advised.
		wantErr(t, "munmap", as.Munmap(file, 16*pg), 0)
		low, err := as.Mmap(ltpBase, 8*pg, mmap.ProtRead, mmap.MapShared|mmap.MapFixed, f, 0)
		wantErr(t, "mmap low", err, 0)
		wantErr(t, "madvise over the hole", as.Madvise(low, 9*pg, mmap.MadvRandom), mmap.ENOMEM)
		wantLayout(t, as, ltpBase, "0-8 r--s")
		anon, err := as.Mmap(0, 5*pg, rw, anonP, nil, 0)
		wantErr(t, "mmap anon", err, 0)
		wantErr(t, "MADV_WILLNEED on anonymous memory", as.Madvise(anon, 5*pg, mmap.MadvWillneed), 0)
	})
}
