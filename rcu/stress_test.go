package rcu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// object is what writers publish and retire. A retired object is poisoned
// only after a grace period, so no reader may ever see poison inside a
// section that loaded the object.
type object struct {
	gen      int         // immutable after publication
	poisoned atomic.Bool // set once the object is reclaimed
}

// Readers keep loading the published object and checking it for poison,
// also across nested sections, yields and re-registrations, while two
// writers replace it: one poisons the old object after Synchronize, the
// other from a Call callback.
func TestStressReadersNeverSeeReclaimedObjects(t *testing.T) {
	const (
		readers      = 3
		reads        = 4000
		writes       = 300
		reregisterAt = 500 // reads between Unregister/Register
	)
	d := NewDomain()
	var cur atomic.Pointer[object]
	cur.Store(&object{})

	var poisonSeen, sections atomic.Int64
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			r := d.Register()
			for i := range reads {
				if i%reregisterAt == reregisterAt-1 {
					r.Unregister()
					r = d.Register()
				}
				r.Lock()
				o := cur.Load()
				if o.poisoned.Load() {
					poisonSeen.Add(1)
				}
				if i%3 == 0 {
					r.Lock()
					inner := cur.Load()
					r.Unlock()
					if inner.poisoned.Load() {
						poisonSeen.Add(1)
					}
				}
				if i%7 == 0 {
					runtime.Gosched() // let writers run while the section is open
				}
				if o.poisoned.Load() {
					poisonSeen.Add(1)
				}
				r.Unlock()
				sections.Add(1)
			}
			r.Unregister()
		})
	}

	replace := func(gen int) *object {
		return cur.Swap(&object{gen: gen})
	}
	wg.Go(func() { // synchronous reclaim
		w := d.Register() // a writer that is also a reader
		defer w.Unregister()
		for i := range writes {
			old := replace(i)
			w.Synchronize()
			old.poisoned.Store(true)
		}
	})
	wg.Go(func() { // deferred reclaim
		for i := range writes {
			old := replace(-i)
			d.Call(func() { old.poisoned.Store(true) })
			if i%50 == 0 {
				d.Barrier()
			}
		}
	})
	wg.Wait()
	d.Close()

	if n := poisonSeen.Load(); n != 0 {
		t.Fatalf("readers saw a reclaimed object %d times", n)
	}
	if sections.Load() != readers*reads {
		t.Fatalf("%d sections ran; want %d", sections.Load(), readers*reads)
	}
	if d.Readers() != 0 {
		t.Fatalf("%d readers still registered", d.Readers())
	}
}
