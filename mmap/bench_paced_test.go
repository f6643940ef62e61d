package mmap_test

import (
	"slices"
	"testing"
	"time"

	"github.com/vmsim/vmsim/mmap"
)

// benchPace is the interval at which BenchmarkFaultLatencyPaced issues
// faults.
const benchPace = 10 * time.Microsecond

// BenchmarkFaultLatencyPaced measures fault latency the way a user of
// the address space feels it, correcting for coordinated omission: the
// faulting thread is asked for one first-touch read fault every
// benchPace, and each fault's latency runs from when it was due, not
// from when the thread got round to it. While a writer's munmap of a
// populated 16 MiB region holds the faulting thread up, every fault that
// falls due meanwhile is late — so a long stall shows in p99 in
// proportion to how much of the time it covers, which
// BenchmarkFaultLatency (service time per fault) cannot show when only
// one fault per writer cycle waits. The writer is the same.
func BenchmarkFaultLatencyPaced(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run(p.String(), func(b *testing.B) { benchLatencyPaced(b, p) })
	}
}

func benchLatencyPaced(b *testing.B, p mmap.Policy) {
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
		due := start.Add(time.Duration(i) * benchPace)
		for time.Now().Before(due) {
			// Wait for the fault's due time; the thread is idle, as a
			// program between page touches would be.
		}
		v, err := t.ReadUint64(base + uint64(i)*mmap.PageSize)
		lat[i] = time.Since(due)
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
	if f := after.Pgfault - before.Pgfault; f < int64(b.N) {
		b.Fatalf("%d faults for %d first touches, want at least one each", f, b.N)
	}
	if b.Elapsed() > 200*time.Millisecond && cycles == 0 {
		b.Fatalf("the writer completed no map+populate+unmap cycle in %v", b.Elapsed())
	}
	slices.Sort(lat)
	b.ReportMetric(float64(benchPercentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(benchPercentile(lat, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(benchPercentile(lat, 0.999).Nanoseconds()), "p99.9-ns")
	benchRate(b, cycles, "writer-cycles/s")
}
