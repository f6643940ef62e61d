package mmap_test

import (
	"fmt"
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

// TestMadviseErrnos pins the errno of every advice vmsim implements beyond
// the original six on each kind of mapping, and the VmFlags it leaves, as
// Linux 6.18 answers madvise(start+1 page, 3 pages, advice) on a 4-page
// mapping of a 2-page-and-100-byte file (so its last page lies beyond the
// end of the file) or of anonymous memory. The expectations were taken
// from the kernel on the machine the test was written on;
// TestKernelDifferential compares the same advices with the kernel on
// random layouts.
func TestMadviseErrnos(t *testing.T) {
	type kind struct {
		name  string
		prot  mmap.Prot
		flags mmap.Flag
		file  int // -1: anonymous; 0: read-write open; 1: read-only open
	}
	kinds := []kind{
		{"anon-private", rw, anonP, -1},
		{"anon-shared", rw, mmap.MapShared | mmap.MapAnonymous, -1},
		{"file-private", rw, mmap.MapPrivate, 0},
		{"file-shared", rw, mmap.MapShared, 0},
		{"file-shared-readonly-open", mmap.ProtRead, mmap.MapShared, 1},
		{"anon-none", mmap.ProtNone, anonP, -1},
		{"anon-write-only", mmap.ProtWrite, anonP, -1},
		{"anon-exec-only", mmap.ProtExec, anonP, -1},
		{"anon-read", mmap.ProtRead, anonP, -1},
		{"file-private-read", mmap.ProtRead, mmap.MapPrivate, 0},
		{"file-shared-write-only", mmap.ProtWrite, mmap.MapShared, 0},
		{"file-shared-exec-only", mmap.ProtExec, mmap.MapShared, 0},
		{"anon-stack", rw, anonP | mmap.MapStack, -1},
	}
	const (
		E0  = mmap.Errno(0)
		INV = mmap.EINVAL
		FLT = mmap.EFAULT
	)
	// want[advice] lists the errno for each kind, in the order above.
	want := map[mmap.Advice][13]mmap.Errno{
		mmap.MadvWipeonfork:    {E0, INV, INV, INV, INV, E0, E0, E0, E0, INV, INV, INV, E0},
		mmap.MadvPopulateRead:  {E0, E0, FLT, FLT, FLT, INV, INV, INV, E0, FLT, INV, INV, E0},
		mmap.MadvPopulateWrite: {E0, E0, FLT, FLT, INV, INV, E0, INV, INV, INV, FLT, INV, E0},
	}
	for _, a := range []mmap.Advice{mmap.MadvDontfork, mmap.MadvDofork, mmap.MadvHugepage, mmap.MadvNohugepage,
		mmap.MadvDontdump, mmap.MadvDodump, mmap.MadvKeeponfork, mmap.MadvCold, mmap.MadvPageout} {
		want[a] = [13]mmap.Errno{} // accepted everywhere
	}
	// Linux accepts these for features vmsim lacks (MADV_REMOVE,
	// MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_DONTNEED_LOCKED,
	// MADV_GUARD_INSTALL, MADV_GUARD_REMOVE); vmsim refuses them, as it
	// does every value Linux refuses (MADV_COLLAPSE is EINVAL on these
	// mappings in Linux too, and MADV_HWPOISON, MADV_SOFT_OFFLINE need
	// CAP_SYS_ADMIN).
	for _, a := range []mmap.Advice{9, 12, 13, 24, 25, 26, 100, 101, 102, 103, 104, -1} {
		want[a] = [13]mmap.Errno{INV, INV, INV, INV, INV, INV, INV, INV, INV, INV, INV, INV, INV}
	}
	f := mmap.NewFile("/madvise-errnos", make([]byte, 2*pg+100), mmap.FileOptions{})
	files := []*mmap.File{f, f.OpenReadOnly()}
	for adv, errs := range want {
		for i, k := range kinds {
			t.Run(fmt.Sprintf("%d/%s", adv, k.name), func(t *testing.T) {
				as, err := mmap.New(mmap.Config{})
				if err != nil {
					t.Fatal(err)
				}
				defer as.Close()
				var file *mmap.File
				flags := k.flags | mmap.MapFixed
				if k.file >= 0 {
					file = files[k.file]
				}
				if _, err := as.Mmap(ltpBase, 4*pg, k.prot, flags, file, 0); err != nil {
					t.Fatal(err)
				}
				wantErr(t, "madvise", as.Madvise(ltpBase+pg, 3*pg, adv), errs[i])
				checkAdvisedFlags(t, as, adv, k.flags&mmap.MapStack != 0, errs[i] == 0)
				if err := as.Check(); err != nil {
					t.Errorf("Check: %v", err)
				}
			})
		}
	}
}

// TestMadviseHoles checks the two walks over a range with a hole: the
// VMA-flag and no-op advices advise both sides of it and then return
// ENOMEM (madvise_walk_vmas()); the populate advices stop at the hole
// with ENOMEM (madvise_populate()), so nothing after it is populated.
func TestMadviseHoles(t *testing.T) {
	forEachPolicyAS(t, mmap.Config{}, func(t *testing.T, as *mmap.AddressSpace) {
		for _, a := range []uint64{ltpBase, ltpBase + 3*pg} {
			if _, err := as.Mmap(a, pg, rw, fixedP, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, adv := range []mmap.Advice{mmap.MadvDontfork, mmap.MadvDontdump, mmap.MadvWipeonfork, mmap.MadvHugepage,
			mmap.MadvCold, mmap.MadvPageout, mmap.MadvPopulateRead, mmap.MadvPopulateWrite} {
			wantErr(t, fmt.Sprintf("advice %d over a hole", adv), as.Madvise(ltpBase, 4*pg, adv), mmap.ENOMEM)
			wantErr(t, fmt.Sprintf("advice %d from a hole", adv), as.Madvise(ltpBase+pg, 3*pg, adv), mmap.ENOMEM)
		}
		vs := as.VMAStates()
		if len(vs) != 2 {
			t.Fatalf("VMAs %+v", vs)
		}
		for _, h := range vs {
			if !h.DontCopy || !h.DontDump || !h.WipeOnFork || !h.Huge {
				t.Errorf("VMA %+v: the advice over the hole did not reach it", h)
			}
		}
		// MADV_POPULATE_WRITE gave the first VMA, and only it, an
		// anon_vma (a write fault), stopping at the hole.
		if vs[0].Anon == 0 || vs[1].Anon != 0 {
			t.Errorf("anon_vma %d and %d: want the first populated only", vs[0].Anon, vs[1].Anon)
		}
	})
}

// checkAdvisedFlags checks the VMAs of TestMadviseErrnos after the advice:
// a flag advice that succeeded splits off [1, 4) with its flag, one that
// clears a flag nobody set leaves one VMA, and every other advice, or a
// failed one, leaves the mapping as it was (MAP_STACK sets VM_NOHUGEPAGE).
func checkAdvisedFlags(t *testing.T, as *mmap.AddressSpace, adv mmap.Advice, stack, ok bool) {
	t.Helper()
	var vs []mmap.VMAState
	for _, h := range as.VMAStates() {
		if h.Start >= ltpBase && h.Start < ltpBase+4*pg {
			vs = append(vs, h)
		}
	}
	type flags struct{ dc, dd, wf, hg, nh bool }
	of := func(h mmap.VMAState) flags { return flags{h.DontCopy, h.DontDump, h.WipeOnFork, h.Huge, h.NoHuge} }
	plain := flags{nh: stack}
	set := plain
	switch adv {
	case mmap.MadvDontfork:
		set.dc = true
	case mmap.MadvDontdump:
		set.dd = true
	case mmap.MadvWipeonfork:
		set.wf = true
	case mmap.MadvHugepage:
		set.hg, set.nh = true, false
	case mmap.MadvNohugepage:
		set.nh = true
	}
	if !ok || set == plain {
		if len(vs) != 1 || of(vs[0]) != plain {
			t.Errorf("VMAs %+v, want one with %+v", vs, plain)
		}
		return
	}
	if len(vs) != 2 || vs[1].Start != ltpBase+pg || of(vs[0]) != plain || of(vs[1]) != set {
		t.Errorf("VMAs %+v, want [0,1) %+v and [1,4) %+v", vs, plain, set)
	}
}
