//go:build linux && (amd64 || arm64)

package kbench_test

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/vmsim/vmsim/internal/kbench"
)

// A first touch of each fresh anonymous page is one minor fault on the
// touching thread, and reads see zeros: what the fault benchmarks rely on
// to count faults.
func TestRegionFirstTouchFaultsOncePerPage(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const pages = 256
	for _, write := range []bool{false, true} {
		r, err := kbench.MapRegion(pages*kbench.PageSize, kbench.ProtRead|kbench.ProtWrite)
		if err != nil {
			t.Fatal(err)
		}
		before, _, err := kbench.ThreadFaults()
		if err != nil {
			t.Fatal(err)
		}
		var sum int
		for i := range pages {
			if write {
				r.WritePage(i, 1)
			} else {
				sum += int(r.ReadPage(i))
			}
		}
		after, _, _ := kbench.ThreadFaults()
		if sum != 0 {
			t.Errorf("fresh anonymous pages read %d, want zeros", sum)
		}
		if got := after - before; got < pages || got > pages+pages/4 {
			t.Errorf("write=%v: %d minor faults for %d first touches, want about one each", write, got, pages)
		}
		if write && r.ReadPage(pages-1) != 1 {
			t.Errorf("store not read back")
		}
		if err := r.Unmap(); err != nil {
			t.Fatal(err)
		}
		if err := r.Unmap(); err != nil {
			t.Errorf("second Unmap: %v, want nil", err)
		}
	}
}

// Fill makes the VMAs it reports, and Close removes them all.
func TestFillMakesAndRemovesVMAs(t *testing.T) {
	before, err := kbench.MapCount()
	if err != nil {
		t.Fatal(err)
	}
	max, err := kbench.MaxMapCount()
	if err != nil {
		t.Fatal(err)
	}
	if max < before+2000 {
		t.Skipf("vm.max_map_count %d leaves no room for 1000 VMAs (have %d)", max, before)
	}
	f, err := kbench.Fill(1000)
	if err != nil {
		t.Fatal(err)
	}
	if f.VMAs() != 1000 {
		t.Errorf("VMAs() = %d, want 1000", f.VMAs())
	}
	mid, _ := kbench.MapCount()
	if d := mid - before; d < 998 || d > 1010 {
		t.Errorf("map count grew by %d, want about 1000", d)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := kbench.MapCount()
	if d := after - before; d > 10 || d < -10 {
		t.Errorf("map count after Close differs by %d from before Fill", d)
	}
}

// An mprotect of the middle page of a three-page mapping in a Hole splits
// it into three VMAs, and the mprotect back merges them into one: the
// operation the Mprotect benchmark times.
func TestHoleSplitMerge(t *testing.T) {
	h, err := kbench.NewHole(3)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	addr, err := kbench.Mmap(h.Addr, 3*kbench.PageSize, kbench.ProtRead|kbench.ProtWrite,
		kbench.MapPrivate|kbench.MapAnonymous|kbench.MapFixedNoreplace)
	if err != nil {
		t.Fatal(err)
	}
	if addr != h.Addr {
		t.Fatalf("mapped at %#x, want the hole at %#x", addr, h.Addr)
	}
	count := func() int {
		n, err := kbench.MapsIn(h.Addr, h.Addr+h.Len)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d VMAs in the hole, want 1", n)
	}
	if err := kbench.Mprotect(h.Addr+kbench.PageSize, kbench.PageSize, kbench.ProtRead); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Errorf("after split: %d VMAs, want 3", n)
	}
	if err := kbench.Mprotect(h.Addr+kbench.PageSize, kbench.PageSize, kbench.ProtRead|kbench.ProtWrite); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("after merge: %d VMAs, want 1", n)
	}
	// MapFixedNoreplace into an occupied hole refuses instead of replacing.
	if _, err := kbench.Mmap(h.Addr, kbench.PageSize, kbench.ProtRead,
		kbench.MapPrivate|kbench.MapAnonymous|kbench.MapFixedNoreplace); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("mmap over the occupied hole: %v, want EEXIST", err)
	}
}

// A cached file's pages read back through MapFile, faulting without I/O.
func TestMapFileReadsCachedPages(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "kbench")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 64*kbench.PageSize)
	for i := range 64 {
		data[i*kbench.PageSize] = byte(i + 1)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	r, err := kbench.MapFile(f, len(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Unmap()
	_, majBefore, _ := kbench.ProcessFaults()
	for i := range 64 {
		if got := r.ReadPage(i); got != byte(i+1) {
			t.Fatalf("page %d reads %d, want %d", i, got, i+1)
		}
	}
	if _, majAfter, _ := kbench.ProcessFaults(); majAfter != majBefore {
		t.Errorf("%d major faults on cached pages, want 0", majAfter-majBefore)
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := kbench.MapRegion(0, kbench.ProtRead); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("MapRegion(0): %v, want EINVAL", err)
	}
	if _, err := kbench.Fill(0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Fill(0): %v, want EINVAL", err)
	}
	if _, err := kbench.NewHole(0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("NewHole(0): %v, want EINVAL", err)
	}
	if !kbench.Supported() {
		t.Errorf("Supported() = false on Linux")
	}
}
