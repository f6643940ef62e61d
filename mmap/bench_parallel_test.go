package mmap_test

// Issue 4, speed under concurrency: fault throughput of threads faulting in
// parallel, with and without a thread churning mmap/munmap, and the latency
// distribution of faults while a writer repeatedly maps and unmaps large
// populated regions. (With one faulting thread, a munmap that holds the
// mmap lock for milliseconds delays about one fault per writer cycle, so
// its effect shows in p99 only when the writer holds the lock for more
// than 1% of the faults; p99.9-ns and max-ns show the tail beyond.)
// Targets on 2 cores: with churn, PolicyRCURefcount's
// throughput at least 3 times PolicyMmapLock's, and its p99 fault latency
// at least 10 times lower.

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// benchChunkPages is how many consecutive pages a parallel faulter claims
// at once: one page-table leaf, so that two faulters rarely share a leaf
// lock (as threads of a real program touching their own memory).
const benchChunkPages = 512

// benchBigUnmap is the size of the regions the latency benchmark's writer
// maps (populated) and unmaps: 16 MiB.
const benchBigUnmap = 16 << 20

// benchStall is the fault latency above which the latency benchmark counts
// a fault as stalled (by a writer, the scheduler or the garbage collector).
const benchStall = 100 * time.Microsecond

// benchBackground runs f in a goroutine until the returned stop is called;
// stop waits for it and returns how many times f ran. f returning an error
// fails the benchmark.
func benchBackground(b *testing.B, lockThread bool, f func() error) (stop func() int64) {
	var done atomic.Bool
	var n atomic.Int64
	var wg sync.WaitGroup
	var ferr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if lockThread {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for !done.Load() {
			if err := f(); err != nil {
				ferr = err
				return
			}
			n.Add(1)
		}
	}()
	return func() int64 {
		done.Store(true)
		wg.Wait()
		if ferr != nil {
			b.Fatalf("background goroutine: %v", ferr)
		}
		return n.Load()
	}
}

// BenchmarkFaultThroughput: GOMAXPROCS threads (b.RunParallel) each take
// fresh pages of one big read-only anonymous mapping, a page-table leaf at
// a time, and read-fault each page once (the zero page: no allocation, so
// the region can be as large as b.N pages). "quiet": nothing else runs;
// "churn": one more goroutine mmaps and munmaps a read-write page in a
// loop elsewhere in the address space (churn-ops/s says how often). Per
// policy, and the real kernel doing the same in the test process.
func BenchmarkFaultThroughput(b *testing.B) {
	for _, churn := range []bool{false, true} {
		name := "quiet"
		if churn {
			name = "churn"
		}
		b.Run(name, func(b *testing.B) {
			for _, p := range benchPolicies {
				b.Run(p.String(), func(b *testing.B) { benchThroughputSim(b, p, churn) })
			}
			b.Run("kernel", func(b *testing.B) { benchThroughputKernel(b, churn) })
		})
	}
}

// benchRegionPages is the size of a region that b.N faults in chunks can
// never overrun, whichever goroutine takes which chunk.
func benchRegionPages(n int) int {
	return (n/benchChunkPages + 2*runtime.GOMAXPROCS(0) + 2) * benchChunkPages
}

func benchThroughputSim(b *testing.B, p mmap.Policy, churn bool) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	pages := benchRegionPages(b.N)
	base, err := as.Mmap(0, uint64(pages)*mmap.PageSize, mmap.ProtRead, benchAnon, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	var nextChunk atomic.Int64
	var bad atomic.Int64
	before := as.Stats()
	var stop func() int64
	if churn {
		stop = benchBackground(b, false, func() error {
			// Read-write, so it never merges with the read-only region.
			a, err := as.Mmap(0, mmap.PageSize, benchRW, benchAnon, nil, 0)
			if err != nil {
				return err
			}
			return as.Munmap(a, mmap.PageSize)
		})
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		t := as.NewThread()
		defer t.Close()
		var page, end int64
		for pb.Next() {
			if page == end {
				page = nextChunk.Add(1) - 1
				page *= benchChunkPages
				end = page + benchChunkPages
			}
			v, err := t.ReadUint64(base + uint64(page)*mmap.PageSize)
			if err != nil || v != 0 {
				bad.Add(1)
			}
			page++
		}
	})
	b.StopTimer()
	var churnOps int64
	if churn {
		churnOps = stop()
	}
	after := as.Stats()
	if n := bad.Load(); n != 0 {
		b.Fatalf("%d reads failed or were not zero", n)
	}
	benchNoSignals(b, before, after)
	if f := after.Pgfault - before.Pgfault; f != int64(b.N) {
		b.Fatalf("%d faults for %d first touches, want one each", f, b.N)
	}
	benchRate(b, int64(b.N), "faults/s")
	benchPer(b, int64(b.N), "ns/fault")
	if churn {
		benchRate(b, churnOps, "churn-ops/s")
	}
	b.ReportMetric(float64(after.Fallbacks-before.Fallbacks)/float64(b.N), "fallbacks/op")
}

func benchThroughputKernel(b *testing.B, churn bool) {
	benchNeedKernel(b)
	pages := benchRegionPages(b.N)
	r, err := kbench.MapRegion(pages*kbench.PageSize, kbench.ProtRead)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Unmap()
	var nextChunk atomic.Int64
	var bad atomic.Int64
	minBefore, _, err := kbench.ProcessFaults()
	if err != nil {
		b.Fatal(err)
	}
	var stop func() int64
	if churn {
		stop = benchBackground(b, true, func() error {
			a, err := kbench.Mmap(0, kbench.PageSize, kbench.ProtRead|kbench.ProtWrite, kbench.MapPrivate|kbench.MapAnonymous)
			if err != nil {
				return err
			}
			return kbench.Munmap(a, kbench.PageSize)
		})
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var page, end int
		for pb.Next() {
			if page == end {
				page = int(nextChunk.Add(1)-1) * benchChunkPages
				end = page + benchChunkPages
			}
			if r.ReadPage(page) != 0 {
				bad.Add(1)
			}
			page++
		}
	})
	b.StopTimer()
	var churnOps int64
	if churn {
		churnOps = stop()
	}
	minAfter, _, _ := kbench.ProcessFaults()
	if n := bad.Load(); n != 0 {
		b.Fatalf("%d fresh pages were not zero", n)
	}
	if f := minAfter - minBefore; f < int64(b.N) {
		b.Fatalf("%d minor faults for %d first touches, want at least one each", f, b.N)
	}
	benchRate(b, int64(b.N), "faults/s")
	benchPer(b, int64(b.N), "ns/fault")
	if churn {
		benchRate(b, churnOps, "churn-ops/s")
	}
}

// BenchmarkFaultLatency: one thread read-faults fresh pages one at a time,
// timing each fault, while a writer goroutine maps a 16 MiB read-write
// region with MAP_POPULATE (4096 pages allocated) and unmaps it, in a loop,
// elsewhere in the address space. Reports p50-ns and p99-ns of the faults
// (and p99.9-ns, p99.99-ns, max-ns, and stall-%, the share of faulting
// time spent in faults slower than 100µs), and writer-cycles/s. Per policy, and the real kernel doing
// the same.
func BenchmarkFaultLatency(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run(p.String(), func(b *testing.B) { benchLatencySim(b, p, 0) })
	}
	b.Run("kernel", func(b *testing.B) { benchLatencyKernel(b, 0) })
}

// benchReportLatencies reports the distribution of lat and the writer's
// rate, and fails if the writer never completed a cycle while the faults
// ran long enough for it to (it would not have measured what it says).
func benchReportLatencies(b *testing.B, lat []time.Duration, cycles int64) {
	if b.Elapsed() > 200*time.Millisecond && cycles == 0 {
		b.Fatalf("the writer completed no map+populate+unmap cycle in %v", b.Elapsed())
	}
	// stall-%: the share of the faulting thread's time spent in faults
	// slower than benchStall: how long the writer kept it from faulting,
	// which a percentile by count cannot show when only a few faults a
	// second wait for a long munmap.
	var total, stalled time.Duration
	for _, d := range lat {
		total += d
		if d > benchStall {
			stalled += d
		}
	}
	if total > 0 {
		b.ReportMetric(100*float64(stalled)/float64(total), "stall-%")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(benchPercentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(benchPercentile(lat, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(benchPercentile(lat, 0.999).Nanoseconds()), "p99.9-ns")
	b.ReportMetric(float64(benchPercentile(lat, 0.9999).Nanoseconds()), "p99.99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
	benchRate(b, cycles, "writer-cycles/s")
}

// benchLatencySim times first-touch read faults against the big-munmap
// writer. With pace 0 each fault is timed from when the thread starts it;
// with pace > 0 one fault falls due every pace and is timed from then
// (see BenchmarkFaultLatencyPaced).
// benchDue returns when fault i is due: now, unpaced (pace 0), or else
// start + i*pace, idling until then as a program between page touches
// would. A fault's latency runs from the time returned.
func benchDue(start time.Time, i int, pace time.Duration) time.Time {
	if pace == 0 {
		return time.Now()
	}
	due := start.Add(time.Duration(i) * pace)
	for time.Now().Before(due) {
	}
	return due
}

func benchLatencySim(b *testing.B, p mmap.Policy, pace time.Duration) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	t := as.NewThread()
	defer t.Close()
	base, err := as.Mmap(0, uint64(b.N)*mmap.PageSize, mmap.ProtRead, benchAnon, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	before := as.Stats()
	stop := benchBackground(b, false, func() error {
		a, err := as.Mmap(0, benchBigUnmap, benchRW, benchAnon|mmap.MapPopulate, nil, 0)
		if err != nil {
			return err
		}
		return as.Munmap(a, benchBigUnmap)
	})
	b.ResetTimer()
	start := time.Now()
	var sum uint64
	for i := range b.N {
		t0 := benchDue(start, i, pace)
		v, err := t.ReadUint64(base + uint64(i)*mmap.PageSize)
		lat[i] = time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		sum |= v
	}
	b.StopTimer()
	cycles := stop()
	after := as.Stats()
	if sum != 0 {
		b.Fatalf("fresh anonymous pages read %#x, want zeros", sum)
	}
	benchNoSignals(b, before, after)
	// The writer's MAP_POPULATE faults too: 4096 per cycle, plus the
	// faulter's one per page.
	if f := after.Pgfault - before.Pgfault; f < int64(b.N) {
		b.Fatalf("%d faults for %d first touches, want at least one each", f, b.N)
	}
	benchReportLatencies(b, lat, cycles)
}

func benchLatencyKernel(b *testing.B, pace time.Duration) {
	benchNeedKernel(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := kbench.MapRegion(b.N*kbench.PageSize, kbench.ProtRead)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Unmap()
	lat := make([]time.Duration, b.N)
	minBefore, _, err := kbench.ThreadFaults()
	if err != nil {
		b.Fatal(err)
	}
	stop := benchBackground(b, true, func() error {
		a, err := kbench.Mmap(0, benchBigUnmap, kbench.ProtRead|kbench.ProtWrite,
			kbench.MapPrivate|kbench.MapAnonymous|kbench.MapPopulate)
		if err != nil {
			return err
		}
		return kbench.Munmap(a, benchBigUnmap)
	})
	b.ResetTimer()
	start := time.Now()
	var sum byte
	for i := range b.N {
		t0 := benchDue(start, i, pace)
		sum |= r.ReadPage(i)
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	cycles := stop()
	minAfter, _, _ := kbench.ThreadFaults()
	if sum != 0 {
		b.Fatalf("fresh anonymous pages read %#x, want zeros", sum)
	}
	if f := minAfter - minBefore; f < int64(b.N) {
		b.Fatalf("%d minor faults on the faulting thread for %d first touches, want at least one each", f, b.N)
	}
	benchReportLatencies(b, lat, cycles)
}
