package fault

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmsim/vmsim/pgtable"
)

// TestXarrayModel checks the xarray against a map under random stores and
// erases over indices that force the tree to grow several levels.
func TestXarrayModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x xarray
	model := map[uint64]pgtable.PFN{}
	for step := range 5000 {
		var i uint64
		switch rng.IntN(3) {
		case 0:
			i = rng.Uint64N(64)
		case 1:
			i = rng.Uint64N(1 << 14)
		default:
			i = rng.Uint64N(1 << 35)
		}
		p := pgtable.PFN(rng.Uint32N(4))
		x.StoreLocked(i, p)
		if p == 0 {
			delete(model, i)
		} else {
			model[i] = p
		}
		if got := x.Load(i); got != p {
			t.Fatalf("step %d: Load(%d) = %d after storing %d", step, i, got, p)
		}
	}
	for i, p := range model {
		if got := x.Load(i); got != p {
			t.Fatalf("Load(%d) = %d, want %d", i, got, p)
		}
	}
	if x.Load(1<<40) != 0 {
		t.Fatal("Load beyond the tree's reach found a frame")
	}
	for _, from := range []uint64{0, 100, 1 << 14, 1 << 30} {
		var got, want []uint64
		x.RangeLocked(from, func(i uint64, p pgtable.PFN) {
			if model[i] != p {
				t.Fatalf("RangeLocked gave %d at %d, want %d", p, i, model[i])
			}
			got = append(got, i)
		})
		for i := range model {
			if i >= from {
				want = append(want, i)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("RangeLocked(%d) visited %d indices, want %d in order", from, len(got), len(want))
		}
	}
}

// TestXarrayConcurrentGrow: readers racing with a writer that grows the
// tree never see a wrong frame, only the stored one or none (yet).
func TestXarrayConcurrentGrow(t *testing.T) {
	var x xarray
	var stop atomic.Bool
	var wg sync.WaitGroup
	val := func(i uint64) pgtable.PFN { return pgtable.PFN(i%1000 + 1) }
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				i := rng.Uint64N(1 << 24)
				if p := x.Load(i); p != 0 && p != val(i) {
					t.Errorf("Load(%d) = %d, want 0 or %d", i, p, val(i))
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 20000 {
		// The spread widens as n grows, so the tree keeps growing taller
		// under the readers' feet.
		i := rng.Uint64N(uint64(n)*uint64(n)%(1<<24) + 1)
		if n%5 == 0 {
			x.StoreLocked(i, 0)
		} else {
			x.StoreLocked(i, val(i))
		}
	}
	stop.Store(true)
	wg.Wait()
}
