package mmap_test

// Issue 4, speed: single-thread page faults on fresh pages, side by side
// with the real kernel's first-touch faults. Target for anonymous faults:
// at most 1/3 of the kernel's cost.

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// benchBatchPages is how many fresh pages one mapping provides before the
// benchmark, with its timer stopped, unmaps it and maps a fresh one.
const benchBatchPages = 8192

// benchAccess names a read or a write fault.
func benchAccess(write bool) string {
	if write {
		return "write"
	}
	return "read"
}

// BenchmarkAnonFault: the first touch of each page of fresh private
// anonymous memory, one fault per page: a read maps the zero page, a write
// allocates a zeroed frame (do_anonymous_page). Per policy, and the real
// kernel's first-touch fault on fresh anonymous memory (MADV_NOHUGEPAGE, so
// one 4 KiB page per fault).
func BenchmarkAnonFault(b *testing.B) {
	for _, write := range []bool{false, true} {
		b.Run(benchAccess(write), func(b *testing.B) {
			for _, p := range benchPolicies {
				b.Run(p.String(), func(b *testing.B) { benchAnonFaultSim(b, p, write) })
			}
			b.Run("kernel", func(b *testing.B) { benchAnonFaultKernel(b, write) })
		})
	}
}

func benchAnonFaultSim(b *testing.B, p mmap.Policy, write bool) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	t := as.NewThread()
	defer t.Close()
	const length = benchBatchPages * mmap.PageSize
	mapBatch := func() uint64 {
		addr, err := as.Mmap(0, length, benchRW, benchAnon, nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		return addr
	}
	// verify checks the pages touched in this batch, with the timer
	// stopped: a write must read back, a read must have mapped the zero
	// page (no frame allocated).
	var first int // the iteration that touched page 0 of this batch
	verify := func(base uint64, pages int) {
		for j := range pages {
			v, err := t.ReadUint64(base + uint64(j)*mmap.PageSize)
			if err != nil {
				b.Fatal(err)
			}
			if want := uint64(first + j + 1); write && v != want {
				b.Fatalf("page %d reads %#x, want %#x", j, v, want)
			}
		}
	}
	base := mapBatch()
	idx := 0
	frames := as.Stats().FramesInUse
	before := as.Stats()
	b.ResetTimer()
	var sum uint64
	for i := range b.N {
		if idx == benchBatchPages {
			b.StopTimer()
			verify(base, idx)
			if !write && as.Stats().FramesInUse != frames {
				b.Fatalf("read faults allocated %d frames, want 0 (zero page)", as.Stats().FramesInUse-frames)
			}
			if err := as.Munmap(base, length); err != nil {
				b.Fatal(err)
			}
			base, idx, first = mapBatch(), 0, i
			b.StartTimer()
		}
		addr := base + uint64(idx)*mmap.PageSize
		if write {
			if err := t.WriteUint64(addr, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		} else {
			v, err := t.ReadUint64(addr)
			if err != nil {
				b.Fatal(err)
			}
			sum |= v
		}
		idx++
	}
	b.StopTimer()
	verify(base, idx)
	after := as.Stats()
	if sum != 0 {
		b.Fatalf("fresh anonymous pages read %#x, want zeros", sum)
	}
	benchNoSignals(b, before, after)
	if f := after.Pgfault - before.Pgfault; f != int64(b.N) {
		b.Fatalf("%d faults for %d first touches, want one each", f, b.N)
	}
	if n := benchPathFaults(p, before, after); n != int64(b.N) {
		b.Fatalf("%d of %d faults took %v's expected path", n, b.N, p)
	}
	benchPer(b, int64(b.N), "ns/fault")
	benchRate(b, int64(b.N), "faults/s")
}

func benchAnonFaultKernel(b *testing.B, write bool) {
	benchNeedKernel(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const length = benchBatchPages * kbench.PageSize
	mapBatch := func() *kbench.Region {
		r, err := kbench.MapRegion(length, kbench.ProtRead|kbench.ProtWrite)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := mapBatch()
	idx := 0
	minBefore, _, err := kbench.ThreadFaults()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var sum byte
	for range b.N {
		if idx == benchBatchPages {
			b.StopTimer()
			if write && r.ReadPage(idx-1) != 1 {
				b.Fatal("store not read back")
			}
			if err := r.Unmap(); err != nil {
				b.Fatal(err)
			}
			r, idx = mapBatch(), 0
			b.StartTimer()
		}
		if write {
			r.WritePage(idx, 1)
		} else {
			sum |= r.ReadPage(idx)
		}
		idx++
	}
	b.StopTimer()
	minAfter, _, _ := kbench.ThreadFaults()
	if err := r.Unmap(); err != nil {
		b.Fatal(err)
	}
	if sum != 0 {
		b.Fatalf("fresh anonymous pages read %#x, want zeros", sum)
	}
	// Each first touch must have been a fault of this thread; a few more
	// come from the runtime (the timer's memory statistics, stacks).
	faults := minAfter - minBefore
	if faults < int64(b.N) {
		b.Fatalf("%d minor faults for %d first touches, want at least one each", faults, b.N)
	}
	b.ReportMetric(float64(faults)/float64(b.N), "minflt/op")
	benchPer(b, int64(b.N), "ns/fault")
	benchRate(b, int64(b.N), "faults/s")
}

// benchFilePages is the size of the benchmark file, in pages: one batch.
const benchFilePages = 4096

// benchFileData returns the file's contents: page i starts with the
// little-endian word i+1, so that every load can be checked.
func benchFileData() []byte {
	data := make([]byte, benchFilePages*mmap.PageSize)
	for i := range benchFilePages {
		v := uint64(i + 1)
		for k := range 8 {
			data[i*mmap.PageSize+k] = byte(v >> (8 * k))
		}
	}
	return data
}

// BenchmarkFileFault: read faults on a private read-only mapping of a
// file, touching each page once, per policy.
//
//   - hit: every page is in the page cache, so a fault is MapPages (the
//     fast path under PolicyRCURefcount) mapping a fault-around window of
//     16 pages, as Linux's filemap_map_pages does; ns/page is per touched
//     page, ns/fault per fault. The kernel does the same on a cached file.
//   - miss: the cache is dropped before each batch, so every touch is a
//     major fault through the slow path (Fault reads the page), with
//     FileOptions.MissLatency 0 and with a small latency (the name says
//     which), which really sleeps. No kernel side: a real miss is a disk
//     read, which measures the disk.
func BenchmarkFileFault(b *testing.B) {
	data := benchFileData()
	b.Run("hit", func(b *testing.B) {
		for _, p := range benchPolicies {
			b.Run(p.String(), func(b *testing.B) { benchFileFaultSim(b, p, data, true, 0) })
		}
		b.Run("kernel", func(b *testing.B) { benchFileFaultKernel(b, data) })
	})
	for _, lat := range []time.Duration{0, 50 * time.Microsecond} {
		name := "miss"
		if lat > 0 {
			name = fmt.Sprintf("miss-latency=%dus", lat.Microseconds())
		}
		b.Run(name, func(b *testing.B) {
			for _, p := range benchPolicies {
				b.Run(p.String(), func(b *testing.B) { benchFileFaultSim(b, p, data, false, lat) })
			}
		})
	}
}

func benchFileFaultSim(b *testing.B, p mmap.Policy, data []byte, hit bool, lat time.Duration) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	f := mmap.NewFile("/bench/file", data, mmap.FileOptions{MissLatency: lat})
	t := as.NewThread()
	defer t.Close()
	const length = benchFilePages * mmap.PageSize
	mapFile := func() uint64 {
		addr, err := as.Mmap(0, length, mmap.ProtRead, mmap.MapPrivate, f, 0)
		if err != nil {
			b.Fatal(err)
		}
		return addr
	}
	base := mapFile()
	if hit {
		// Fill the page cache once; every later fault finds its page.
		for j := range benchFilePages {
			if err := t.Fault(base+uint64(j)*mmap.PageSize, false); err != nil {
				b.Fatal(err)
			}
		}
		if err := as.Munmap(base, length); err != nil {
			b.Fatal(err)
		}
		base = mapFile()
	}
	idx := 0
	before, fsBefore := as.Stats(), f.Stats()
	b.ResetTimer()
	for range b.N {
		if idx == benchFilePages {
			b.StopTimer()
			if err := as.Munmap(base, length); err != nil {
				b.Fatal(err)
			}
			if !hit {
				f.DropCache()
			}
			base, idx = mapFile(), 0
			b.StartTimer()
		}
		v, err := t.ReadUint64(base + uint64(idx)*mmap.PageSize)
		if err != nil {
			b.Fatal(err)
		}
		if v != uint64(idx+1) {
			b.Fatalf("page %d reads %#x, want %#x", idx, v, idx+1)
		}
		idx++
	}
	b.StopTimer()
	after, fsAfter := as.Stats(), f.Stats()
	benchNoSignals(b, before, after)
	faults := after.Pgfault - before.Pgfault
	major := after.Pgmajfault - before.Pgmajfault
	misses := fsAfter.Misses - fsBefore.Misses
	if hit {
		// Fault-around maps up to 16 pages a fault: at least N/16 faults,
		// plus partial windows at the ends of each batch.
		if maxF := int64(b.N)/16 + 2*int64(b.N/benchFilePages+1); faults < int64(b.N)/16 || faults > maxF {
			b.Fatalf("%d faults for %d touches of cached pages, want %d to %d (fault-around 16)", faults, b.N, int64(b.N)/16, maxF)
		}
		if major != 0 || misses != 0 {
			b.Fatalf("%d major faults and %d page-cache misses on cached pages, want 0", major, misses)
		}
		if n := benchPathFaults(p, before, after); n != faults {
			b.Fatalf("%d of %d faults took %v's expected path", n, faults, p)
		}
		b.ReportMetric(float64(b.N)/float64(faults), "pages/fault")
		benchPer(b, int64(b.N), "ns/page")
	} else {
		if faults != int64(b.N) || major != int64(b.N) || misses != int64(b.N) {
			b.Fatalf("%d faults, %d major, %d page-cache misses for %d touches of uncached pages, want one each",
				faults, major, misses, b.N)
		}
		if p == mmap.PolicyRCURefcount {
			if s := after.SlowPath - before.SlowPath; s != int64(b.N) {
				b.Fatalf("%d of %d misses took the slow path", s, b.N)
			}
		}
	}
	benchPer(b, faults, "ns/fault")
	benchRate(b, faults, "faults/s")
}

func benchFileFaultKernel(b *testing.B, data []byte) {
	benchNeedKernel(b)
	f, err := os.CreateTemp(b.TempDir(), "vmsim-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mapFile := func() *kbench.Region {
		r, err := kbench.MapFile(f, len(data))
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := mapFile()
	idx := 0
	minBefore, majBefore, err := kbench.ThreadFaults()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if idx == benchFilePages {
			b.StopTimer()
			if err := r.Unmap(); err != nil {
				b.Fatal(err)
			}
			r, idx = mapFile(), 0
			b.StartTimer()
		}
		if v := r.ReadPage(idx); v != byte(idx+1) {
			b.Fatalf("page %d reads %d, want %d", idx, v, byte(idx+1))
		}
		idx++
	}
	b.StopTimer()
	minAfter, majAfter, _ := kbench.ThreadFaults()
	if err := r.Unmap(); err != nil {
		b.Fatal(err)
	}
	if majAfter != majBefore {
		b.Fatalf("%d major faults on a cached file, want 0", majAfter-majBefore)
	}
	// The kernel maps a fault-around window, or (Linux 6.18+) a whole
	// large folio, per fault: at least one fault per batch, at most one
	// per page.
	faults := minAfter - minBefore
	if batches := int64(b.N+benchFilePages-1) / benchFilePages; faults < batches || faults > int64(b.N)+64 {
		b.Fatalf("%d minor faults for %d touches in %d mappings, want one per mapping to one per page", faults, b.N, batches)
	}
	b.ReportMetric(float64(b.N)/float64(faults), "pages/fault")
	benchPer(b, int64(b.N), "ns/page")
	benchPer(b, faults, "ns/fault")
	benchRate(b, faults, "faults/s")
}
