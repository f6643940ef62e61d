package model_test

import (
	"testing"

	"github.com/vmsim/vmsim/internal/model"
)

// Placement tests run on the model only: the kernel's choice depends on the
// whole layout of the test process. The expected values come from the
// kernel source: arch/x86/mm/mmap.c: mmap_base(), arch/x86/kernel/
// sys_x86_64.c: arch_get_unmapped_area_topdown(), mm/mmap.c:
// round_hint_to_min(), unmapped_area_topdown(), vm_start_gap().

const (
	taskSize = model.DefaultTaskSize
	mmapBase = taskSize - 128<<20 // 0x7ffff7fff000
)

func mustMmap(t *testing.T, m *model.Model, addr, length uint64, prot, flags uint32) uint64 {
	t.Helper()
	got, err := m.Mmap(addr, length, prot, flags, nil, 0)
	if err != 0 {
		t.Fatalf("mmap(%#x, %#x, %#x, %#x) = %s", addr, length, prot, flags, err.Name())
	}
	return got
}

func TestConfigDefaults(t *testing.T) {
	c := model.New(model.Config{}).Config()
	if c.TaskSize != 0x7ffffffff000 || c.MmapBase != 0x7ffff7fff000 || c.MinAddr != 65536 ||
		c.MaxMapCount != 65530 || c.StackLimit != 8<<20 {
		t.Errorf("defaults %+v", c)
	}
	// mmap_base() clamps the gap to TASK_SIZE/6*5 for tiny address spaces.
	c = model.New(model.Config{TaskSize: 60 << 20}).Config()
	if want := uint64(60<<20) - (60<<20)/6*5; c.MmapBase != want {
		t.Errorf("MmapBase for a 60 MiB task = %#x, want %#x", c.MmapBase, want)
	}
}

func TestTopDownPlacement(t *testing.T) {
	m := model.New(model.Config{})
	a := mustMmap(t, m, 0, 3*P, model.ProtRead, anonP)
	if a != mmapBase-3*P {
		t.Fatalf("first mapping at %#x, want the top of the gap below MmapBase %#x", a, mmapBase-3*P)
	}
	b := mustMmap(t, m, 0, P, model.ProtRead|model.ProtExec, anonP)
	if b != a-P {
		t.Fatalf("second mapping at %#x, want %#x", b, a-P)
	}
	// A hole high up is preferred over space further down, if it fits.
	if e := m.Munmap(a+P, P); e != 0 {
		t.Fatal(e)
	}
	if c := mustMmap(t, m, 0, P, model.ProtRead|model.ProtWrite, anonP); c != a+P {
		t.Errorf("one-page mapping at %#x, want the hole at %#x", c, a+P)
	}
	// One that does not fit in the hole goes below everything.
	if d := mustMmap(t, m, 0, 2*P, model.ProtNone, anonP); d != b-2*P {
		t.Errorf("two-page mapping at %#x, want %#x", d, b-2*P)
	}
	// Lengths are rounded up to pages.
	if e := mustMmap(t, m, 0, 1, model.ProtNone, anonP|model.MapNoReserve); e != b-3*P {
		t.Errorf("one-byte mapping at %#x, want %#x", e, b-3*P)
	}
}

func TestHints(t *testing.T) {
	m := model.New(model.Config{})
	const hint = 0x100000000
	if got := mustMmap(t, m, hint+123, P, model.ProtRead, anonP); got != hint {
		t.Errorf("free hint: got %#x, want it rounded down to %#x", got, uint64(hint))
	}
	// An occupied hint is silently ignored: top-down placement.
	if got := mustMmap(t, m, hint, P, model.ProtRead, anonP); got != mmapBase-P {
		t.Errorf("occupied hint: got %#x, want %#x", got, mmapBase-P)
	}
	// A hint whose range would overlap the next mapping is ignored too.
	if got := mustMmap(t, m, hint-P, 2*P, model.ProtExec, anonP); got != mmapBase-3*P {
		t.Errorf("overlapping hint: got %#x, want %#x", got, mmapBase-3*P)
	}
	// A hint above MmapBase is honoured if free (the hint test only needs
	// the range to end by TASK_SIZE).
	if got := mustMmap(t, m, taskSize-2*P, 2*P, model.ProtRead, anonP); got != taskSize-2*P {
		t.Errorf("hint just below TASK_SIZE: got %#x", got)
	}
	// A hint that would end above TASK_SIZE is ignored.
	if got := mustMmap(t, m, taskSize-P, 2*P, model.ProtRead, anonP); got == taskSize-P {
		t.Errorf("hint past TASK_SIZE honoured")
	}
	// A non-zero hint below mmap_min_addr is raised to it and then
	// honoured (round_hint_to_min()), not ignored.
	if got := mustMmap(t, m, 0x1000, P, model.ProtRead, anonP); got != model.DefaultMinAddr {
		t.Errorf("low hint: got %#x, want mmap_min_addr %#x", got, model.DefaultMinAddr)
	}
	// A hint below one page rounds to 0: no hint at all.
	if got := mustMmap(t, m, 0x800, P, model.ProtRead, anonP); got == 0 || got == model.DefaultMinAddr {
		t.Errorf("sub-page hint: got %#x, want top-down", got)
	}
}

func TestMinAddr(t *testing.T) {
	m := model.New(model.Config{})
	_, err := m.Mmap(0x1000, P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "MAP_FIXED below mmap_min_addr", err, model.EPERM)
	_, err = m.Mmap(model.DefaultMinAddr-P, 2*P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "MAP_FIXED starting below mmap_min_addr", err, model.EPERM)
	_, err = m.Mmap(model.DefaultMinAddr, P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "MAP_FIXED at mmap_min_addr", err, 0)
	// Order: alignment (EINVAL) is checked before mmap_min_addr (EPERM),
	// the TASK_SIZE range (ENOMEM) before alignment.
	_, err = m.Mmap(0x1001, P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "unaligned below mmap_min_addr", err, model.EINVAL)
	_, err = m.Mmap(taskSize-P+1, 2*P, model.ProtRead, fixedP, nil, 0)
	wantErrno(t, "unaligned and past TASK_SIZE", err, model.ENOMEM)
	// Placement never goes below mmap_min_addr: a configuration with a
	// tiny space runs out instead.
	small := model.New(model.Config{TaskSize: 1 << 20, MmapBase: 1 << 20})
	if got := mustMmap(t, small, 0, (1<<20)-model.DefaultMinAddr, model.ProtRead, anonP); got != model.DefaultMinAddr {
		t.Errorf("filling a small space: got %#x", got)
	}
	_, err = small.Mmap(0, P, model.ProtRead, anonP, nil, 0)
	wantErrno(t, "full address space", err, model.ENOMEM)
}

func TestLengthErrors(t *testing.T) {
	m := model.New(model.Config{})
	_, err := m.Mmap(0, 0, model.ProtRead, anonP, nil, 0)
	wantErrno(t, "zero length", err, model.EINVAL)
	_, err = m.Mmap(0, ^uint64(0), model.ProtRead, anonP, nil, 0)
	wantErrno(t, "length that page-aligns to 0", err, model.ENOMEM)
	_, err = m.Mmap(0, taskSize+P, model.ProtRead, anonP, nil, 0)
	wantErrno(t, "length beyond TASK_SIZE", err, model.ENOMEM)
	// mprotect reports a wrapping range as ENOMEM, madvise as EINVAL.
	wantErrno(t, "mprotect wrap", m.Mprotect(P, ^uint64(0)-P, model.ProtRead), model.ENOMEM)
	wantErrno(t, "madvise wrap", m.Madvise(2*P, ^uint64(0)-P, model.MadvNormal), model.EINVAL)
	// mprotect with length 0 succeeds before looking at the protection.
	wantErrno(t, "mprotect len 0, bad prot", m.Mprotect(P, 0, 0x100), 0)
	// mremap: a new length beyond TASK_SIZE is EINVAL.
	_, err = m.Mremap(P, P, taskSize+P, model.MremapMaymove, 0)
	wantErrno(t, "mremap new_len beyond TASK_SIZE", err, model.EINVAL)
	_, err = m.Mremap(P, P, P, model.MremapMaymove|model.MremapFixed, taskSize)
	wantErrno(t, "mremap new range beyond TASK_SIZE", err, model.EINVAL)
	// A shrink unmaps its tail with munmap's range checks.
	a := mustMmap(t, m, testBase, 2*P, model.ProtRead, fixedP)
	_, err = m.Mremap(a, taskSize, P, 0, 0)
	wantErrno(t, "mremap shrink with a tail past TASK_SIZE", err, model.EINVAL)
	if vs := m.VMAs(); len(vs) != 1 || vs[0].End != a+2*P {
		t.Errorf("failed shrink changed the layout: %v", vs)
	}
}

func TestStackGuardGap(t *testing.T) {
	m := model.New(model.Config{})
	// A MAP_GROWSDOWN mapping at the top of the mmap area...
	stack := mustMmap(t, m, 0, 4*P, rw, anonP|model.MapGrowsDown)
	if stack != mmapBase-4*P {
		t.Fatalf("stack at %#x", stack)
	}
	// ...keeps stack_guard_gap (1 MiB) free below itself.
	if got := mustMmap(t, m, 0, P, model.ProtRead, anonP); got != stack-model.StackGuardGap-P {
		t.Errorf("mapping below a stack at %#x, want %#x", got, stack-model.StackGuardGap-P)
	}
	// A hint inside the guard gap is ignored.
	if got := mustMmap(t, m, stack-2*P, P, model.ProtRead, anonP); got == stack-2*P {
		t.Errorf("hint inside the guard gap honoured")
	}
	// MAP_FIXED may go there.
	if got := mustMmap(t, m, stack-2*P, P, model.ProtRead, fixedP); got != stack-2*P {
		t.Errorf("MAP_FIXED in the guard gap: %#x", got)
	}
}

// TestStackGuardRetry: when the highest free range (by the VMAs' real
// extents) ends inside a MAP_GROWSDOWN VMA's guard gap, Linux's
// unmapped_area_topdown() searches again strictly below the guard gap's
// start: a free range between another VMA and the stack, inside the guard
// gap, is skipped although it does not touch the stack. The real kernel
// does this (mmap's TestKernelStackGuardPlacement).
func TestStackGuardRetry(t *testing.T) {
	m := model.New(model.Config{})
	x := mmapBase - P
	v := mustMmap(t, m, x-3*P, P, rw, fixedP)
	g := mustMmap(t, m, x, P, rw, fixedP|model.MapGrowsDown)
	if v != x-3*P || g != x {
		t.Fatalf("setup: v=%#x g=%#x", v, g)
	}
	// Free: [x-2, x) directly below the stack, and everything below v.
	want := x - model.StackGuardGap - P
	if got := mustMmap(t, m, 0, P, rw, anonP); got != want {
		t.Errorf("hint-less mmap at x%+d pages, want x%+d (below the guard gap, not under v at x-4)",
			(int64(got)-int64(x))/P, (int64(want)-int64(x))/P)
	}
	// A hint that does not fit falls back to the same search, and so does
	// an mremap move.
	if got := mustMmap(t, m, x-2*P, 2*P, rw, anonP); got != want-2*P {
		t.Errorf("mmap with a hint in the guard gap at x%+d pages, want x%+d", (int64(got)-int64(x))/P, (int64(want-2*P)-int64(x))/P)
	}
	old := mustMmap(t, m, 0x100000000, P, rw, anonP)
	mustMmap(t, m, old+P, P, model.ProtRead, fixedP) // no growing in place
	if got, err := m.Mremap(old, P, 2*P, model.MremapMaymove, 0); err != 0 || got != want-4*P {
		t.Errorf("mremap move to %#x (%s), want %#x", got, err.Name(), want-4*P)
	}

	// Bottom-up (the fallback when nothing fits below MmapBase): a range
	// that ends inside a stack's guard gap is refused, and the search
	// goes on above the stack.
	m = model.New(model.Config{})
	mustMmap(t, m, model.DefaultMinAddr, mmapBase-model.DefaultMinAddr, model.ProtNone, fixedP|model.MapNoReserve)
	s := mustMmap(t, m, mmapBase+4*P, P, rw, fixedP|model.MapGrowsDown)
	if got := mustMmap(t, m, 0, 2*P, rw, anonP); got != s+P {
		t.Errorf("bottom-up mmap at %#x, want just above the stack at %#x", got, s+P)
	}
	// One that ends at the guard gap's start is fine.
	m = model.New(model.Config{})
	mustMmap(t, m, model.DefaultMinAddr, mmapBase-model.DefaultMinAddr, model.ProtNone, fixedP|model.MapNoReserve)
	s = mustMmap(t, m, mmapBase+model.StackGuardGap+2*P, P, rw, fixedP|model.MapGrowsDown)
	if got := mustMmap(t, m, 0, 2*P, rw, anonP); got != mmapBase {
		t.Errorf("bottom-up mmap at %#x, want %#x (ending at the guard gap below %#x)", got, uint64(mmapBase), s)
	}
}

func TestStackGrowth(t *testing.T) {
	m := model.New(model.Config{})
	const top = 0x10000000
	stack := mustMmap(t, m, top-2*P, 2*P, rw, fixedP|model.MapGrowsDown)
	// A fault in the gap below grows the VMA down to the faulting page
	// (mm/mmap.c: expand_downwards()).
	if err := m.Store(stack-3*P+5, 9); err != 0 {
		t.Fatalf("store below the stack: %s", err.Name())
	}
	vs := m.VMAs()
	if len(vs) != 1 || vs[0].Start != stack-3*P || vs[0].Pgoff != (stack-3*P)/P || vs[0].AnonID == 0 {
		t.Fatalf("after growth: %v", vs)
	}
	// An accessible mapping closer than stack_guard_gap blocks growth.
	mustMmap(t, m, stack-model.StackGuardGap-10*P, P, model.ProtRead, fixedP)
	if _, err := m.Load(stack - model.StackGuardGap - 5*P); err != model.EFAULT {
		t.Errorf("growth into the guard gap: %s, want EFAULT", err.Name())
	}
	// RLIMIT_STACK bounds the size.
	m2 := model.New(model.Config{StackLimit: 4 * P})
	s2 := mustMmap(t, m2, top-2*P, 2*P, rw, fixedP|model.MapGrowsDown)
	if _, err := m2.Load(s2 - 2*P); err != 0 {
		t.Errorf("growth to the limit: %s", err.Name())
	}
	if _, err := m2.Load(s2 - 3*P); err != model.EFAULT {
		t.Errorf("growth past the limit: %s, want EFAULT", err.Name())
	}
	// A read fault grows it too, and a refused access still grew it.
	m3 := model.New(model.Config{})
	s3 := mustMmap(t, m3, top-P, P, model.ProtNone, fixedP|model.MapGrowsDown)
	if _, err := m3.Load(s3 - P); err != model.EACCES {
		t.Errorf("load below a PROT_NONE stack: %s, want EACCES", err.Name())
	}
	if vs := m3.VMAs(); vs[0].Start != s3-P {
		t.Errorf("PROT_NONE stack did not grow: %v", vs)
	}
}

func TestBottomUpFallback(t *testing.T) {
	// When nothing fits below MmapBase, x86 falls back to a bottom-up
	// search from TASK_SIZE/3 (arch_get_unmapped_area()).
	m := model.New(model.Config{})
	legacy := (taskSize/3 + P - 1) &^ (P - 1)
	mustMmap(t, m, model.DefaultMinAddr, mmapBase-model.DefaultMinAddr, model.ProtNone, fixedP|model.MapNoReserve)
	got := mustMmap(t, m, 0, P, model.ProtRead, anonP)
	if got != mmapBase {
		t.Errorf("fallback placement at %#x, want the lowest free address above TASK_SIZE/3 (%#x): %#x", got, legacy, uint64(mmapBase))
	}
}
