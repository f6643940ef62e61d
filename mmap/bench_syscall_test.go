package mmap_test

// Issue 3, speed: the cost of the syscalls that change the layout, with
// 1,000 and 65,530 VMAs in the address space, side by side with the real
// kernel's in the same run. Targets: each at most 1/3 of the kernel's cost,
// and the cost at 65,530 VMAs at most 1.5 times the cost at 1,000.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// benchVMACounts are the address-space sizes issue 3 asks about: a small
// process and one at Linux's default vm.max_map_count.
var benchVMACounts = []int{1000, 65530}

// benchSimFill is an address space holding n single-page VMAs whose
// protections alternate r-- and ---, so that no two merge, placed top-down
// as a loop of Mmap calls places them. Its MaxMapCount is raised above n so
// that the measured calls (a split needs two more VMAs) are not refused:
// the limit is a count check, not a cost.
type benchSimFill struct {
	as *mmap.AddressSpace
	t  *mmap.Thread
	n  int
}

func benchNewSimFill(b *testing.B, n int) *benchSimFill {
	b.Helper()
	as, err := mmap.New(mmap.Config{MaxMapCount: n + 1024})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		prot := mmap.ProtRead
		if i%2 == 1 {
			prot = mmap.ProtNone
		}
		if _, err := as.Mmap(0, mmap.PageSize, prot, benchAnon, nil, 0); err != nil {
			as.Close()
			b.Fatalf("pre-fill mmap %d of %d: %v", i, n, err)
		}
	}
	if got := as.MapCount(); got != n {
		as.Close()
		b.Fatalf("pre-filled %d VMAs, have %d", n, got)
	}
	return &benchSimFill{as: as, t: as.NewThread(), n: n}
}

func (f *benchSimFill) close(b *testing.B) {
	f.t.Close()
	if err := f.as.Close(); err != nil {
		b.Error(err)
	}
}

// benchKernelFill is the test process pre-filled with real VMAs up to
// about n in all, as far as vm.max_map_count allows with a margin for the
// Go runtime's own mappings.
type benchKernelFill struct {
	fill *kbench.Filler
	vmas int // VMAs in the process after the fill
}

// benchKernelMargin is how far below vm.max_map_count the fill stops, so
// that the Go runtime can still map memory while the benchmark runs.
const benchKernelMargin = 1500

func benchNewKernelFill(b *testing.B, n int) *benchKernelFill {
	b.Helper()
	have, err := kbench.MapCount()
	if err != nil {
		b.Fatal(err)
	}
	limit, err := kbench.MaxMapCount()
	if err != nil {
		b.Fatal(err)
	}
	want := min(n, limit-benchKernelMargin) - have
	if want < n/2 {
		b.Skipf("vm.max_map_count %d with %d VMAs in use leaves no room for %d", limit, have, n)
	}
	f, err := kbench.Fill(want)
	if err != nil {
		b.Fatal(err)
	}
	vmas, err := kbench.MapCount()
	if err != nil {
		f.Close()
		b.Fatal(err)
	}
	return &benchKernelFill{fill: f, vmas: vmas}
}

// benchWithFills runs sim and kernel under "vmas=N" for each count, each
// with an address space pre-filled once and shared by every b.N round of
// its sub-benchmark (each operation leaves the layout as it found it,
// which the sub-benchmarks check).
func benchWithFills(b *testing.B, sim func(*testing.B, *benchSimFill), kernel func(*testing.B, *benchKernelFill)) {
	for _, n := range benchVMACounts {
		b.Run(fmt.Sprintf("vmas=%d", n), func(b *testing.B) {
			var sf *benchSimFill
			var kf *benchKernelFill
			b.Run("sim", func(b *testing.B) {
				if sf == nil {
					sf = benchNewSimFill(b, n)
				}
				sim(b, sf)
			})
			b.Run("kernel", func(b *testing.B) {
				benchNeedKernel(b)
				if kf == nil {
					kf = benchNewKernelFill(b, n)
				}
				kernel(b, kf)
			})
			if sf != nil {
				sf.close(b)
			}
			if kf != nil {
				if err := kf.fill.Close(); err != nil {
					b.Error(err)
				}
			}
		})
	}
}

// BenchmarkMmapMunmap: mmap of one private anonymous page, then munmap of
// it (issue 3). The simulator places the page top-down, just below the
// pre-filled VMAs (a gap search over all of them); the kernel maps it with
// MAP_FIXED_NOREPLACE into a hole between two PROT_NONE guard pages, so that
// it cannot merge with the Go runtime's memory and the two calls do the
// same work every time.
func BenchmarkMmapMunmap(b *testing.B) {
	benchWithFills(b, func(b *testing.B, f *benchSimFill) {
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			addr, err := f.t.Mmap(0, mmap.PageSize, benchRW, benchAnon, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.t.Munmap(addr, mmap.PageSize); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if got := f.as.MapCount(); got != f.n {
			b.Fatalf("%d VMAs after the loop, want %d", got, f.n)
		}
		benchPer(b, 2*int64(b.N), "ns/call")
		b.ReportMetric(float64(f.n), "vmas")
	}, func(b *testing.B, f *benchKernelFill) {
		h, err := kbench.NewHole(1)
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		b.ResetTimer()
		for range b.N {
			addr, err := kbench.Mmap(h.Addr, kbench.PageSize, kbench.ProtRead|kbench.ProtWrite,
				kbench.MapPrivate|kbench.MapAnonymous|kbench.MapFixedNoreplace)
			if err != nil || addr != h.Addr {
				b.Fatalf("mmap into the hole: %#x, %v", addr, err)
			}
			if err := kbench.Munmap(addr, kbench.PageSize); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if n, err := kbench.MapsIn(h.Addr, h.Addr+h.Len); err != nil || n != 0 {
			b.Fatalf("%d VMAs left in the hole (%v), want 0", n, err)
		}
		benchPer(b, 2*int64(b.N), "ns/call")
		b.ReportMetric(float64(f.vmas), "vmas")
	})
}

// BenchmarkMprotectSplitMerge: mprotect of the middle page of a three-page
// read-write mapping to read-only (one VMA split into three), then back
// (the three merge into one) (issue 3). Both sides check, before timing,
// that the first call really splits and the second really merges, and
// after timing that the mapping is one VMA again.
func BenchmarkMprotectSplitMerge(b *testing.B) {
	benchWithFills(b, func(b *testing.B, f *benchSimFill) {
		if err := benchMprotectMergeReturns(); err != nil {
			b.Fatal(err)
		}
		base, err := f.t.Mmap(0, 3*mmap.PageSize, benchRW, benchAnon, nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.t.Munmap(base, 3*mmap.PageSize)
		mid := base + mmap.PageSize
		split := func() {
			if err := f.t.Mprotect(mid, mmap.PageSize, mmap.ProtRead); err != nil {
				b.Fatal(err)
			}
		}
		merge := func() {
			if err := f.t.Mprotect(mid, mmap.PageSize, benchRW); err != nil {
				b.Fatal(err)
			}
		}
		split()
		if got := f.as.MapCount(); got != f.n+3 {
			b.Fatalf("after the split: %d VMAs, want %d", got, f.n+3)
		}
		merge()
		if got := f.as.MapCount(); got != f.n+1 {
			b.Fatalf("after the merge: %d VMAs, want %d", got, f.n+1)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			split()
			merge()
		}
		b.StopTimer()
		if got := f.as.MapCount(); got != f.n+1 {
			b.Fatalf("%d VMAs after the loop, want %d", got, f.n+1)
		}
		benchPer(b, 2*int64(b.N), "ns/call")
		b.ReportMetric(float64(f.n), "vmas")
	}, func(b *testing.B, f *benchKernelFill) {
		h, err := kbench.NewHole(3)
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		if addr, err := kbench.Mmap(h.Addr, 3*kbench.PageSize, kbench.ProtRead|kbench.ProtWrite,
			kbench.MapPrivate|kbench.MapAnonymous|kbench.MapFixedNoreplace); err != nil || addr != h.Addr {
			b.Fatalf("mmap into the hole: %#x, %v", addr, err)
		}
		mid := h.Addr + kbench.PageSize
		vmas := func() int {
			n, err := kbench.MapsIn(h.Addr, h.Addr+h.Len)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
		split := func() {
			if err := kbench.Mprotect(mid, kbench.PageSize, kbench.ProtRead); err != nil {
				b.Fatal(err)
			}
		}
		merge := func() {
			if err := kbench.Mprotect(mid, kbench.PageSize, kbench.ProtRead|kbench.ProtWrite); err != nil {
				b.Fatal(err)
			}
		}
		split()
		if n := vmas(); n != 3 {
			b.Fatalf("after the split: %d VMAs, want 3", n)
		}
		merge()
		if n := vmas(); n != 1 {
			b.Fatalf("after the merge: %d VMAs, want 1", n)
		}
		b.ResetTimer()
		for range b.N {
			split()
			merge()
		}
		b.StopTimer()
		if n := vmas(); n != 1 {
			b.Fatalf("%d VMAs after the loop, want 1", n)
		}
		benchPer(b, 2*int64(b.N), "ns/call")
		b.ReportMetric(float64(f.vmas), "vmas")
	})
}

var (
	benchMprotectProbeOnce sync.Once
	benchMprotectProbeErr  error
)

// benchMprotectMergeReturns checks once, on a throwaway address space and
// with a deadline, that an mprotect whose result merges with both
// neighbours returns, so that a simulator that loops there fails the
// benchmark in seconds instead of hanging the whole run. (If it does loop,
// the looping goroutine keeps one CPU busy for the rest of the process: the
// error says so, as later figures of the run are then perturbed.)
func benchMprotectMergeReturns() error {
	benchMprotectProbeOnce.Do(func() {
		as, err := mmap.New(mmap.Config{})
		if err != nil {
			benchMprotectProbeErr = err
			return
		}
		base, err := as.Mmap(0, 3*mmap.PageSize, benchRW, benchAnon, nil, 0)
		if err != nil {
			benchMprotectProbeErr = err
			return
		}
		mid := base + mmap.PageSize
		done := make(chan error, 1)
		go func() {
			if err := as.Mprotect(mid, mmap.PageSize, mmap.ProtRead); err != nil {
				done <- err
				return
			}
			done <- as.Mprotect(mid, mmap.PageSize, benchRW)
		}()
		select {
		case err := <-done:
			if err == nil {
				err = as.Close()
			}
			benchMprotectProbeErr = err
		case <-time.After(5 * time.Second):
			benchMprotectProbeErr = fmt.Errorf("simulator bug: mprotect(%#x, 4096, rw-) of the middle page of a "+
				"3-page rw- mapping whose middle page is r-- did not return in 5 s (before commit 7a0b0c0, doMprotect "+
				"looped: after the merge, FindNext found the merged VMA again); its goroutine holds a CPU for the "+
				"rest of this run", mid)
		}
	})
	return benchMprotectProbeErr
}
