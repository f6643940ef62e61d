//go:build linux

package kernel

import (
	"errors"
	"syscall"
	"testing"
)

const (
	protRW   = 3
	anonFix  = 0x2 | 0x20 | 0x10 // MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
	pageSz   = 4096
	mremapMF = mremapMaymove | mremapFixed
)

func openTest(t *testing.T) *Harness {
	t.Helper()
	h, err := OpenAny(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func TestHarnessRoundTrip(t *testing.T) {
	h := openTest(t)
	w := h.Window()
	addr, err := h.Mmap(w.Base, 2*pageSz, protRW, anonFix, -1, 0)
	if err != nil || addr != w.Base {
		t.Fatalf("mmap: %#x %v", addr, err)
	}
	ms, err := h.Maps()
	if err != nil || len(ms) != 1 || ms[0].Start != w.Base || ms[0].End != w.Base+2*pageSz || ms[0].Perms != "rw-p" {
		t.Fatalf("maps: %+v %v", ms, err)
	}
	if err := h.Store(w.Base+pageSz+7, 99); err != nil {
		t.Fatal(err)
	}
	if b, err := h.Load(w.Base + pageSz + 7); err != nil || b != 99 {
		t.Fatalf("load: %d %v", b, err)
	}
	// An unmapped address is EIO, not a crash.
	if _, err := h.Load(w.Base + 10*pageSz); !errors.Is(err, syscall.EIO) {
		t.Errorf("load of unmapped page: %v, want EIO", err)
	}
	if err := h.Mprotect(w.Base, pageSz, 0); err != nil {
		t.Fatal(err)
	}
	sm, err := h.Smaps()
	if err != nil || len(sm) != 2 || !sm[1].HasFlag("ac") || sm[0].HasFlag("rd") {
		t.Errorf("smaps: %+v %v", sm, err)
	}
	if err := h.Munmap(w.Base, 2*pageSz); err != nil {
		t.Fatal(err)
	}
	if ms, _ := h.Maps(); len(ms) != 0 {
		t.Errorf("window not empty after munmap: %+v", ms)
	}
}

func TestHarnessRefusesOutside(t *testing.T) {
	h := openTest(t)
	w := h.Window()
	var refused *RefusedError
	calls := map[string]error{
		"mmap MAP_FIXED below":        func() error { _, err := h.Mmap(w.Base-pageSz, pageSz, protRW, anonFix, -1, 0); return err }(),
		"mmap MAP_FIXED across end":   func() error { _, err := h.Mmap(w.End()-pageSz, 2*pageSz, protRW, anonFix, -1, 0); return err }(),
		"mmap NOREPLACE above":        func() error { _, err := h.Mmap(w.End(), pageSz, protRW, 0x22|mapFixedNoreplac, -1, 0); return err }(),
		"munmap across start":         h.Munmap(w.Base-pageSz, 2*pageSz),
		"mprotect rounding past end":  h.Mprotect(w.End()-pageSz, pageSz+1, protRW),
		"madvise huge":                h.Madvise(w.Base, 1<<62, 4),
		"mremap from outside":         func() error { _, err := h.Mremap(w.Base-pageSz, pageSz, pageSz, mremapMF, w.Base); return err }(),
		"mremap MREMAP_FIXED outside": func() error { _, err := h.Mremap(w.Base, pageSz, pageSz, mremapMF, w.End()); return err }(),
		"load outside":                func() error { _, err := h.Load(w.End()); return err }(),
		"store outside":               h.Store(w.Base-1, 1),
	}
	for name, err := range calls {
		if !errors.As(err, &refused) {
			t.Errorf("%s: %v, want *RefusedError", name, err)
		}
	}
}

func TestHarnessOutsideMappings(t *testing.T) {
	h := openTest(t)
	w := h.Window()
	// Without MAP_FIXED the kernel chooses an address outside the window.
	addr, err := h.Mmap(0, pageSz, protRW, 0x22, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Contains(addr, pageSz) {
		t.Fatalf("kernel placed a no-hint mapping inside the window at %#x", addr)
	}
	if len(h.outside) != 1 {
		t.Fatalf("outside mapping not recorded: %v", h.outside)
	}
	if err := h.ReleaseOutside(); err != nil {
		t.Fatal(err)
	}
	// The range is free again: a hint there is honoured.
	again, err := h.Mmap(addr, pageSz, protRW, 0x22, -1, 0)
	if err != nil || again != addr {
		t.Errorf("remap at the released address: %#x %v", again, err)
	}
}

func TestOpenRejectsBusyWindow(t *testing.T) {
	h := openTest(t)
	if _, err := Open(h.Window()); err == nil {
		t.Error("a second harness opened the same window")
	}
	if _, err := Open(Window{Base: 0x1001, Size: pageSz}); err == nil {
		t.Error("unaligned window accepted")
	}
}

func TestRelease(t *testing.T) {
	major, minor, err := Release()
	if err != nil || major < 2 || minor < 0 {
		t.Errorf("Release() = %d.%d, %v", major, minor, err)
	}
}
