package mmap_test

import (
	"testing"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// BenchmarkReadUint64TLBHit measures an aligned load whose translation is
// in the thread's TLB: the cost of the shootdown handshake, the TLB probe
// and one atomic load (issue 4: target at most 20 ns), for each policy
// (the policy should not matter on this path), next to a real load from a
// real page of the test process ("kernel": what the hardware does when its
// TLB hits).
func BenchmarkReadUint64TLBHit(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run(p.String(), func(b *testing.B) {
			as := benchNewAS(b, mmap.Config{Policy: p})
			addr, err := as.Mmap(0, mmap.PageSize, benchRW, benchAnon, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			t := as.NewThread()
			defer t.Close()
			if err := t.WriteUint64(addr, 1); err != nil {
				b.Fatal(err)
			}
			before := as.Stats()
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
			t.Close() // publishes the thread's TLB-hit count
			after := as.Stats()
			if f := after.Pgfault - before.Pgfault; f != 0 {
				b.Fatalf("%d faults during TLB-hit loads, want 0", f)
			}
			if h := after.TLBHits - before.TLBHits; h < int64(b.N) {
				b.Fatalf("%d TLB hits for %d loads", h, b.N)
			}
			benchPer(b, int64(b.N), "ns/load")
		})
	}
	b.Run("kernel", func(b *testing.B) {
		benchNeedKernel(b)
		r, err := kbench.MapRegion(kbench.PageSize, kbench.ProtRead|kbench.ProtWrite)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Unmap()
		r.StoreUint64(0, 1)
		b.ResetTimer()
		var sum uint64
		for i := 0; i < b.N; i++ {
			sum += r.LoadUint64(0)
		}
		b.StopTimer()
		if sum != uint64(b.N) {
			b.Fatalf("read %d, want %d", sum, b.N)
		}
		benchPer(b, int64(b.N), "ns/load")
	})
}
