package fault

import (
	"testing"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// BenchmarkFileFaultHit measures the slow path's page-cache hit: a
// lock-free lookup, TryGet and recheck.
func BenchmarkFileFaultHit(b *testing.B) {
	frames := pgtable.NewFrames(64)
	f := NewFile("/bench", make([]byte, 16*ps), FileOptions{})
	v := mapFile(f)
	for i := range 16 { // warm the cache
		vf, _ := fileFault(f, frames, v, uint64(i), 0)
		frames.Put(vf.Page)
	}
	b.RunParallel(func(pb *testing.PB) {
		vf := &VMFault{VMA: v, mm: &MM{Frames: frames}}
		i := uint64(0)
		for pb.Next() {
			vf.Pgoff = i % 16
			if res := f.Fault(vf); res != 0 {
				b.Errorf("hit = %#x", res)
				return
			}
			frames.Put(vf.Page)
			i++
		}
	})
	f.DropCache()
}

// BenchmarkFileFaultMiss measures a miss with MissLatency 0: the
// flight group, a frame allocation, the fill from the disk and the
// insertion. The cache is dropped (untimed) every 1024 pages.
func BenchmarkFileFaultMiss(b *testing.B) {
	const pages = 1024
	frames := pgtable.NewFrames(pages + 8)
	f := NewFile("/bench", make([]byte, pages*ps), FileOptions{})
	v := vma.New(testBase, testBase+pages*ps, vma.ProtRead, vma.FlagShared, 0, f)
	vf := &VMFault{VMA: v, mm: &MM{Frames: frames}}
	i := uint64(0)
	for b.Loop() {
		if i == pages {
			b.StopTimer()
			f.DropCache()
			i = 0
			b.StartTimer()
		}
		vf.Pgoff = i
		if res := f.Fault(vf); res != Major {
			b.Fatalf("miss = %#x", res)
		}
		frames.Put(vf.Page)
		i++
	}
	b.StopTimer()
	f.DropCache()
	b.ReportMetric(float64(f.Stats().Reads)/float64(b.N), "reads/op")
}
