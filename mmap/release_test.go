package mmap

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmsim/vmsim/rcu"
	"github.com/vmsim/vmsim/vma"
)

// newTestFrees returns a vmaFrees whose frees are recorded, in order, and
// the function that returns the record so far.
func newTestFrees(t *testing.T, free func(*vma.VMA)) (*vmaFrees, *rcu.Domain, func() []*vma.VMA) {
	d := rcu.NewDomain()
	t.Cleanup(d.Close)
	var mu sync.Mutex
	var freed []*vma.VMA
	f := &vmaFrees{freer: freeFunc(func(v *vma.VMA) {
		if free != nil {
			free(v)
		}
		mu.Lock()
		freed = append(freed, v)
		mu.Unlock()
	})}
	return f, d, func() []*vma.VMA {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(freed)
	}
}

// freeFunc makes a function a vmaFreer.
type freeFunc func(*vma.VMA)

func (f freeFunc) freeVMA(v *vma.VMA) { f(v) }

func testVMA(page, tag uint64) *vma.VMA {
	return vma.New(page*PageSize, (page+1)*PageSize, vma.ProtRead, 0, tag, nil)
}

// A VMA released while a change is open is freed only once the change has
// ended (and a grace period has passed): before, a published snapshot may
// still hold it. The VMAs a change releases are freed in release order;
// one released with no change open waits for a grace period alone.
func TestVMAFreesWaitForTheChangeToEnd(t *testing.T) {
	f, d, freed := newTestFrees(t, nil)
	a, b, c := testVMA(1, 0), testVMA(2, 0), testVMA(3, 0)

	f.begin()
	f.call(d, a)
	d.Barrier()
	if got := freed(); len(got) != 0 {
		t.Fatalf("freed %v while the change that released it was open", got)
	}
	f.call(d, b)
	f.end(d)
	d.Barrier()
	if got := freed(); !slices.Equal(got, []*vma.VMA{a, b}) {
		t.Fatalf("after the change ended, freed %v; want %v", got, []*vma.VMA{a, b})
	}

	f.call(d, c)
	d.Barrier()
	if got := freed(); !slices.Equal(got, []*vma.VMA{a, b, c}) {
		t.Fatalf("a VMA released with no change open: freed %v; want %v", got, []*vma.VMA{a, b, c})
	}

	// A change that released nothing hands RCU nothing.
	f.begin()
	f.end(d)
	d.Barrier()
	if got := freed(); len(got) != 3 {
		t.Fatalf("an empty change freed %v", got[3:])
	}
}

// Releases from other goroutines (faults dropping a detached VMA's last
// reference) race with the writer's changes: every VMA is freed exactly
// once, and none that a change released before that change ended.
func TestVMAFreesConcurrentReleases(t *testing.T) {
	const (
		changes = 2000
		faults  = 2
		perGo   = 2000
	)
	var ended atomic.Uint64 // the last change whose end has begun
	var early atomic.Int64
	f, d, freed := newTestFrees(t, func(v *vma.VMA) {
		// Pgoff tags a VMA with the change that released it (0: a
		// fault, outside any change's order).
		if tag := v.Pgoff; tag != 0 && ended.Load() < tag {
			early.Add(1)
		}
	})

	var wg sync.WaitGroup
	for g := range faults {
		wg.Go(func() {
			for i := range perGo {
				f.call(d, testVMA(uint64(1+g)*100_000+uint64(i), 0))
			}
		})
	}
	for k := uint64(1); k <= changes; k++ {
		f.begin()
		f.call(d, testVMA(k, k))
		if k%3 == 0 {
			f.call(d, testVMA(k+50_000, k))
		}
		ended.Store(k)
		f.end(d)
	}
	wg.Wait()
	d.Barrier()

	got := freed()
	want := changes + changes/3 + faults*perGo
	if len(got) != want {
		t.Fatalf("%d VMAs freed; want %d", len(got), want)
	}
	seen := make(map[*vma.VMA]bool, len(got))
	for _, v := range got {
		if seen[v] {
			t.Fatalf("%v freed twice", v)
		}
		seen[v] = true
	}
	if n := early.Load(); n != 0 {
		t.Fatalf("%d VMAs freed before the change that released them ended", n)
	}
}
