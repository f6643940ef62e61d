package mmap_test

import (
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

// BenchmarkReadUint64TLBHit measures an aligned load whose translation is
// in the thread's TLB: the cost of the shootdown handshake, the TLB probe
// and one atomic load.
func BenchmarkReadUint64TLBHit(b *testing.B) {
	as, err := mmap.New(mmap.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer as.Close()
	addr, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	t := as.NewThread()
	defer t.Close()
	if err := t.WriteUint64(addr, 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var sum uint64
	for i := 0; i < b.N; i++ {
		v, err := t.ReadUint64(addr)
		if err != nil {
			b.Fatal(err)
		}
		sum += v
	}
	b.StopTimer()
	if sum != uint64(b.N) {
		b.Fatalf("read %d, want %d", sum, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/load")
}
