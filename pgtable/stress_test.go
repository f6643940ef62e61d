package pgtable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentInstallZapFree is the fault/munmap protocol in miniature.
// Each region is one PUD table (512 GiB) of which the first leaves are
// used, so FreeEmpty unlinks leaves, PMD and PUD tables while installers
// walk through them. Installers fault pages in: they write a signature
// into a fresh frame, lock the leaf, check under the lock that the region
// is still mapped (the VMA "detached" check) and install. The unmapper
// detaches a region, zaps it, frees the frames and the tables, and maps it
// again; its last pass leaves the odd regions unmapped. Readers walk
// lock-free like gup-fast: TryGet the frame, re-check the PTE, and then
// the frame must hold the signature of the address it is mapped at.
func TestConcurrentInstallZapFree(t *testing.T) {
	const (
		regions    = 4
		pages      = 96 // per region, every 9th page, so over two leaves
		installers = 3
		readers    = 2
		cycles     = 40 // unmap/remap cycles
	)
	regionBase := func(r int) uint64 { return uint64(r+1) << pgdShift }
	randAddr := func(rng *rand.Rand) (int, uint64) {
		r := rng.IntN(regions)
		return r, regionBase(r) + rng.Uint64N(pages)*9*PageSize
	}
	f := NewFrames(regions*pages + installers)
	tb := NewTable()
	var mapped [regions]atomic.Bool
	for r := range mapped {
		mapped[r].Store(true)
	}
	errs := make(chan error, installers+readers+1)
	var done atomic.Bool
	var attempts, looks, installed, refused, unmaps, checked, running, reading atomic.Int64
	running.Store(installers)
	reading.Store(readers)
	var all sync.WaitGroup

	for i := range installers {
		all.Go(func() {
			defer running.Add(-1)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for n := 0; !done.Load(); n++ {
				if n%8 == 0 {
					runtime.Gosched() // keep the interleaving fine-grained on few CPUs
				}
				attempts.Add(1)
				r, a := randAddr(rng)
				if !mapped[r].Load() || tb.Lookup(a).Present() {
					continue // cheap lock-free pre-check, as a fault would make
				}
				p, err := f.Alloc()
				if err != nil {
					errs <- fmt.Errorf("installer: %w (frames leaked?)", err)
					return
				}
				f.Store(p, 0, a)
				l := tb.LockLeaf(a)
				if !mapped[r].Load() || l.Get(a).Present() {
					l.Unlock()
					f.Put(p)
					refused.Add(1)
					continue
				}
				l.SetLocked(a, MakePTE(p, rw))
				l.Unlock()
				installed.Add(1)
			}
		})
	}
	for i := range readers {
		all.Go(func() {
			defer reading.Add(-1)
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			for n := 0; !done.Load(); n++ {
				if n%8 == 0 {
					runtime.Gosched()
				}
				looks.Add(1)
				_, a := randAddr(rng)
				e := tb.Lookup(a)
				if !e.Present() || !f.TryGet(e.PFN()) {
					continue
				}
				if tb.Lookup(a) == e {
					if got := f.Load(e.PFN(), 0); got != a {
						errs <- fmt.Errorf("reader: frame %d mapped at %#x holds %#x", e.PFN(), a, got)
						f.Put(e.PFN())
						return
					}
					checked.Add(1)
				}
				f.Put(e.PFN())
			}
		})
	}
	all.Go(func() {
		rng := rand.New(rand.NewPCG(3, 3))
		var frames []PFN
		unmap := func(r int) {
			mapped[r].Store(false) // detach before zap
			frames = tb.Zap(regionBase(r), regionBase(r+1), frames[:0])
			for _, p := range frames {
				f.Put(p) // no TLBs here, so no shootdown to wait for
			}
			tb.FreeEmpty(regionBase(r), regionBase(r+1))
			unmaps.Add(1)
		}
		// Pace by the installers' and the readers' progress, not by
		// time, so every run interleaves whatever the scheduler does
		// (on a loaded machine, pacing by the installers alone could
		// end the test before a reader had run).
		seen, seenLooks := int64(0), int64(0)
		waitInstalls := func() {
			for attempts.Load() < seen+50 && running.Load() > 0 ||
				looks.Load() < seenLooks+20 && reading.Load() > 0 {
				runtime.Gosched()
			}
			seen, seenLooks = attempts.Load(), looks.Load()
		}
		for range cycles {
			waitInstalls()
			r := rng.IntN(regions)
			unmap(r)
			mapped[r].Store(true)
		}
		// The last pass runs while the installers still do.
		for r := 1; r < regions; r += 2 {
			waitInstalls()
			unmap(r)
		}
		done.Store(true)
	})
	all.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("installed %d, refused %d, unmaps %d, reader checks %d",
		installed.Load(), refused.Load(), unmaps.Load(), checked.Load())
	if checked.Load() == 0 {
		t.Fatal("readers never validated a mapping: the test exercised nothing")
	}

	for r := 1; r < regions; r += 2 {
		if m := present(tb, regionBase(r), regionBase(r+1)); len(m) != 0 {
			t.Fatalf("region %d was unmapped but %d PTEs remain", r, len(m))
		}
	}
	owners := map[PFN]uint64{}
	tb.Range(0, AddressLimit, func(a uint64, e PTE) bool {
		p := e.PFN()
		if prev, dup := owners[p]; dup {
			t.Fatalf("frame %d mapped at %#x and %#x", p, prev, a)
		}
		owners[p] = a
		if f.Refcount(p) != 1 || f.Load(p, 0) != a {
			t.Fatalf("frame %d at %#x: refcount %d, signature %#x", p, a, f.Refcount(p), f.Load(p, 0))
		}
		return true
	})
	if f.InUse() != len(owners) {
		t.Fatalf("%d frames in use but %d mapped: leak", f.InUse(), len(owners))
	}
	for _, p := range tb.Zap(0, AddressLimit, nil) {
		f.Put(p)
	}
	tb.FreeEmpty(0, AddressLimit)
	if f.InUse() != 0 || tb.Stats() != (TableStats{}) {
		t.Fatalf("after tearing down: InUse %d, Stats %+v", f.InUse(), tb.Stats())
	}
}
