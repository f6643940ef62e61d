package trace

import (
	"io"
	"testing"
)

var benchEvent = Event{Kind: Load, Addr: 0x7ffff7ff0000, Value: 42}

// BenchmarkEmitNil is the cost of tracing that is off.
func BenchmarkEmitNil(b *testing.B) {
	var buf *Buffer
	for b.Loop() {
		buf.Emit(benchEvent)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkEmitLive is one simulated thread recording on its own track
// with the real monotonic clock. The track is replaced every 64Ki events
// (the cost of that is included) so that the figure is the steady-state cost
// of recording, not of a heap of b.N*112 bytes that the GC keeps scanning.
func BenchmarkEmitLive(b *testing.B) {
	const batch = 1 << 16
	buf := NewRecorder().Track("t")
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		buf.Emit(benchEvent)
		if n++; n == batch {
			n, buf = 0, NewRecorder().Track("t")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkEmitRetained keeps every event of the run, as a long unbounded
// trace does: it adds the page faults and GC scanning of a growing heap.
func BenchmarkEmitRetained(b *testing.B) {
	buf := NewRecorder().Track("t")
	b.ReportAllocs()
	for b.Loop() {
		buf.Emit(benchEvent)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkNow is the clock read every Emit pays.
func BenchmarkNow(b *testing.B) {
	r := NewRecorder()
	for b.Loop() {
		_ = r.Now()
	}
}

// BenchmarkEmitShared is the syscall track: every Emit takes the track's
// mutex; goroutines run in parallel to show contention.
func BenchmarkEmitShared(b *testing.B) {
	buf := NewRecorder().SharedTrack("syscalls")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf.Emit(benchEvent)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkEmitParallelOwnTracks is several simulated threads, each on its
// own track: no shared lock, so it should scale with cores.
func BenchmarkEmitParallelOwnTracks(b *testing.B) {
	r := NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := r.Track("t")
		for pb.Next() {
			buf.Emit(benchEvent)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkWriteChromeJSON is the cost of exporting, per event.
func BenchmarkWriteChromeJSON(b *testing.B) {
	r := NewRecorder()
	t := r.Track("t")
	for i := range 10000 {
		t.Emit(Event{Kind: Load, Addr: uint64(i), Value: uint64(i)})
	}
	for b.Loop() {
		if err := WriteChromeJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/event")
}
