package pgtable

import (
	"fmt"
	"testing"
)

const benchPages = 1 << 16 // 256 MiB of address space, 128 leaves

// populated returns a table with benchPages consecutive pages mapped from
// base.
func populated(b *testing.B, base uint64) *Table {
	b.Helper()
	tb := NewTable()
	for i := range uint64(benchPages) {
		install(tb, base+i*PageSize, MakePTE(PFN(i+1), rw))
	}
	return tb
}

const benchBase = 0x7f0000000000

// BenchmarkLookup is the lock-free walk: four dependent atomic loads.
func BenchmarkLookup(b *testing.B) {
	tb := populated(b, benchBase)
	b.Run("serial", func(b *testing.B) {
		var sink PTE
		i := uint64(0)
		for b.Loop() {
			sink |= tb.Lookup(benchBase + (i%benchPages)*PageSize)
			i += 7
		}
		_ = sink
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var sink PTE
			i := uint64(0)
			for pb.Next() {
				sink |= tb.Lookup(benchBase + (i%benchPages)*PageSize)
				i += 7
			}
			_ = sink
		})
	})
}

// BenchmarkInstall is the fault's PTE install: LockLeaf, SetLocked,
// Unlock on an existing leaf.
func BenchmarkInstall(b *testing.B) {
	tb := populated(b, benchBase)
	b.Run("serial", func(b *testing.B) {
		i := uint64(0)
		for b.Loop() {
			a := benchBase + (i%benchPages)*PageSize
			l := tb.LockLeaf(a)
			l.SetLocked(a, MakePTE(PFN(i), rw))
			l.Unlock()
			i += 7
		}
	})
	// Each goroutine works in its own leaves: split locks do not contend.
	b.Run("parallel-distinct-leaves", func(b *testing.B) {
		var id uint64
		var mu = make(chan struct{}, 1)
		b.RunParallel(func(pb *testing.PB) {
			mu <- struct{}{}
			base := benchBase + id*8*LeafSize
			id++
			<-mu
			i := uint64(0)
			for pb.Next() {
				a := base + (i%(8*PTEsPerLeaf))*PageSize
				l := tb.LockLeaf(a)
				l.SetLocked(a, MakePTE(PFN(i), rw))
				l.Unlock()
				i++
			}
		})
	})
	b.Run("parallel-same-leaf", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := uint64(0)
			for pb.Next() {
				a := benchBase + (i%PTEsPerLeaf)*PageSize
				l := tb.LockLeaf(a)
				l.SetLocked(a, MakePTE(PFN(i), rw))
				l.Unlock()
				i++
			}
		})
	})
	b.Run("new-leaf", func(b *testing.B) {
		// Every install allocates a leaf (and now and then interior tables).
		t2 := NewTable()
		i := uint64(0)
		for b.Loop() {
			a := (i * LeafSize) % AddressLimit
			l := t2.LockLeaf(a)
			l.SetLocked(a, MakePTE(1, rw))
			l.Unlock()
			i++
		}
	})
}

// BenchmarkZap clears ranges of 1, 512 and 65,536 present pages. Ranges
// are refilled with the timer stopped, a batch at a time.
func BenchmarkZap(b *testing.B) {
	for _, pages := range []uint64{1, PTEsPerLeaf, benchPages} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			tb := NewTable()
			batch := max(1, benchPages/pages) // ranges per refill
			var dst []PFN
			for done := 0; done < b.N; {
				b.StopTimer()
				n := min(batch, uint64(b.N-done))
				for i := range n * pages {
					install(tb, benchBase+i*PageSize, MakePTE(PFN(i+1), rw))
				}
				b.StartTimer()
				for r := range n {
					start := benchBase + r*pages*PageSize
					dst = tb.Zap(start, start+pages*PageSize, dst[:0])
				}
				done += int(n)
			}
			if uint64(len(dst)) != pages {
				b.Fatalf("last Zap returned %d frames, want %d", len(dst), pages)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(uint64(b.N)*pages), "ns/page")
		})
	}
}

// BenchmarkMove moves 512 pages across a leaf boundary and back.
func BenchmarkMove(b *testing.B) {
	tb := NewTable()
	for i := range uint64(PTEsPerLeaf) {
		install(tb, benchBase+i*PageSize, MakePTE(PFN(i+1), rw))
	}
	from, to := uint64(benchBase), uint64(benchBase+LeafSize+LeafSize/2)
	for b.Loop() {
		tb.Move(from, LeafSize, to)
		from, to = to, from
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*PTEsPerLeaf), "ns/page")
}

// BenchmarkAllocPut is a frame's life: Alloc (zeroing a reused frame) and
// the last Put (poisoning it).
func BenchmarkAllocPut(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		f := NewFrames(64)
		for b.Loop() {
			p, err := f.Alloc()
			if err != nil {
				b.Fatal(err)
			}
			f.Put(p)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		f := NewFrames(1024)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, err := f.Alloc()
				if err != nil {
					b.Fatal(err)
				}
				f.Put(p)
			}
		})
	})
}
