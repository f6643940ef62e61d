package vma

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchSizes are the layouts benchmarked: a small process and one at
// Linux's default vm.max_map_count.
var benchSizes = []int{1000, 65530}

const benchBase = 0x100000000

// fragmentedTree builds n VMAs of 1-4 pages from benchBase, separated by
// one-page gaps, and returns the tree and the VMAs in order.
func fragmentedTree(n int) (*Tree, []*VMA) {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	tr := NewTree()
	tx := tr.Begin()
	vs := make([]*VMA, 0, n)
	a := uint64(benchBase)
	for range n {
		l := (1 + rng.Uint64N(4)) * PageSize
		v := New(a, a+l, ProtRead, 0, 0, nil)
		tx.Insert(v)
		vs = append(vs, v)
		a += l + PageSize
	}
	tx.Commit()
	return tr, vs
}

// BenchmarkFind looks up addresses of the mapped span (hits and misses)
// in the published snapshot, as a fault does: uniformly random ones (the
// worst case for caches: each lookup misses on most B-tree nodes it
// visits) and ascending ones (a process streaming through memory).
func BenchmarkFind(b *testing.B) {
	for _, n := range benchSizes {
		for _, pattern := range []string{"random", "ascending"} {
			b.Run(fmt.Sprintf("vmas=%d/%s", n, pattern), func(b *testing.B) {
				benchFind(b, n, pattern == "random")
			})
		}
	}
}

func benchFind(b *testing.B, n int, random bool) {
	tr, vs := fragmentedTree(n)
	span := vs[len(vs)-1].End - benchBase
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]uint64, 1<<16)
	for i := range addrs {
		if random {
			addrs[i] = benchBase + rng.Uint64N(span)
		} else {
			addrs[i] = benchBase + uint64(i)*(span/uint64(len(addrs)))
		}
	}
	s := tr.Snapshot()
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Find(addrs[i&(len(addrs)-1)]) != nil {
			hits++
		}
	}
	b.StopTimer()
	if hits == 0 {
		b.Fatal("no hits")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/find")
}

// BenchmarkPublish measures one published change: Begin, Insert or
// Remove of one VMA at a random place, Commit. Under "gc" the nodes a
// publish replaces are left to the garbage collector; under "recycle"
// they are reused as package fault runs the tree (RecycleNodes), with a
// reclaim that runs its functions 64 publishes later, standing in for a
// grace period.
func BenchmarkPublish(b *testing.B) {
	for _, n := range benchSizes {
		for _, recycle := range []bool{false, true} {
			mode := map[bool]string{false: "gc", true: "recycle"}[recycle]
			b.Run(fmt.Sprintf("vmas=%d/%s", n, mode), func(b *testing.B) {
				benchPublish(b, n, recycle)
			})
		}
	}
}

func benchPublish(b *testing.B, n int, recycle bool) {
	tr, vs := fragmentedTree(n)
	var later []func()
	if recycle {
		tr.RecycleNodes(reclaimFunc(func(f func()) { later = append(later, f) }))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	b.ResetTimer()
	var cur *VMA
	for i := 0; i < b.N; i++ {
		tx := tr.Begin()
		if cur == nil {
			// Fill the one-page gap after a random VMA.
			a := vs[rng.IntN(len(vs)-1)].End
			cur = New(a, a+PageSize, ProtRead, 0, 0, nil)
			tx.Insert(cur)
		} else {
			tx.Remove(cur)
			cur = nil
		}
		tx.Commit()
		if i%64 == 63 {
			for _, f := range later {
				f()
			}
			clear(later)
			later = later[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/publish")
}

// BenchmarkGapSearch searches a fragmented layout whose only fitting gap
// is near its bottom: every gap between the n VMAs is one page, except a
// two-page gap near VMA n/16. Top-down below the last VMA, as mmap's
// default layout does under mmap_base.
func BenchmarkGapSearch(b *testing.B) {
	for _, n := range benchSizes {
		for _, topDown := range []bool{true, false} {
			name := fmt.Sprintf("vmas=%d/topdown=%v", n, topDown)
			b.Run(name, func(b *testing.B) {
				tr, vs := fragmentedTree(n)
				tx := tr.Begin()
				i := n / 16
				for vs[i].Len() < pages(2) {
					i++
				}
				victim := vs[i]
				tx.Remove(victim)
				tx.Insert(New(victim.Start, victim.End-PageSize, ProtRead, 0, 0, nil))
				tx.Commit()
				want := victim.End - PageSize
				req := GapRequest{Length: pages(2), Low: benchBase, High: vs[len(vs)-1].End, TopDown: topDown}
				tx = tr.Begin()
				defer tx.Abort()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if a, ok := tx.UnmappedArea(req); !ok || a != want {
						b.Fatalf("UnmappedArea = %#x, %v; want %#x", a, ok, want)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/search")
			})
		}
	}
}
