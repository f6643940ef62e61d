package vma

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// testRCU is the simplest correct RCU, standing in for package rcu: a
// read-side section holds a read lock, and a grace period takes the write
// lock once, so it ends only after every section that began before it.
type testRCU struct{ mu sync.RWMutex }

func (r *testRCU) ReadLock()   { r.mu.RLock() }
func (r *testRCU) ReadUnlock() { r.mu.RUnlock() }
func (r *testRCU) Synchronize() {
	r.mu.Lock()
	//lint:ignore SA2001 the empty critical section is the grace period
	r.mu.Unlock()
}

// TestReadersSeeCompleteLayouts churns the tree with MAP_FIXED-style
// replaces (unmap + insert in one Txn) and plain inserts/removes while
// readers take snapshots. Every snapshot a reader sees must be sorted,
// non-overlapping, show the replaced window fully covered (a replace is
// one publish), and hold no freed VMA; versions never go backwards. VMAs
// are released through the refcount, freed after a grace period and
// poisoned, so a reader that used a freed VMA would panic. With
// RecycleNodes on, the replaced B+tree nodes are cleared and reused a
// grace period later too, so a reader still walking one would see a
// broken layout (and -race would see the writes).
func TestReadersSeeCompleteLayouts(t *testing.T) {
	t.Run("gc", func(t *testing.T) { testReadersSeeCompleteLayouts(t, false) })
	t.Run("recycle", func(t *testing.T) { testReadersSeeCompleteLayouts(t, true) })
}

func testReadersSeeCompleteLayouts(t *testing.T, recycle bool) {
	const (
		winStart = 0x7f0000000000
		winPages = 64
		winEnd   = winStart + winPages*PageSize
		churnLo  = 0x10000000 // a second region with inserts and removes
		writes   = 400
		readers  = 2
	)
	var rcu testRCU
	tr := NewTree()
	if recycle {
		tr.RecycleNodes(reclaimFunc(func(f func()) { rcu.Synchronize(); f() }))
	}
	var relMu sync.Mutex
	var releasedVMAs []*VMA
	release := func(v *VMA) {
		relMu.Lock()
		releasedVMAs = append(releasedVMAs, v)
		relMu.Unlock()
	}
	first := New(winStart, winEnd, ProtRead, 0, 0, nil)
	first.SetRelease(release)
	insertCommit(tr, first)

	var done atomic.Bool
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			var lastVersion uint64
			for iter := 0; !done.Load() || iter < 10; iter++ {
				rcu.ReadLock()
				s := tr.Snapshot()
				if s.Version() < lastVersion {
					t.Errorf("snapshot version went back from %d to %d", lastVersion, s.Version())
				}
				lastVersion = s.Version()
				vs := s.VMAs()
				if len(vs) != s.Len() {
					t.Errorf("VMAs() has %d entries, Len() %d", len(vs), s.Len())
				}
				for i, v := range vs {
					if v.Poisoned() {
						t.Errorf("snapshot %d holds a freed VMA", s.Version())
					} else if i > 0 && v.Start < vs[i-1].End {
						t.Errorf("snapshot %d: %v overlaps %v", s.Version(), v, vs[i-1])
					}
				}
				next := uint64(winStart)
				s.Ascend(winStart, winEnd, func(v *VMA) bool {
					if v.Start != next {
						t.Errorf("snapshot %d: hole at %#x in the replaced window", s.Version(), next)
					}
					next = v.End
					return true
				})
				if next != winEnd {
					t.Errorf("snapshot %d: window covered up to %#x only", s.Version(), next)
				}
				addr := winStart + rng.Uint64N(winPages*PageSize)
				v := s.Find(addr)
				if v == nil {
					t.Errorf("snapshot %d: no VMA at %#x", s.Version(), addr)
				}
				got := v != nil && v.TryGet()
				rcu.ReadUnlock()
				if got {
					// A reference keeps v from being freed outside
					// the read-side section (the slow path).
					if !v.Contains(addr) {
						t.Errorf("%v does not contain %#x", v, addr)
					}
					v.Put()
				}
			}
		}(uint64(r))
	}

	rng := rand.New(rand.NewPCG(42, 42))
	for i := 0; i < writes; i++ {
		tx := tr.Begin()
		if i%3 == 2 {
			// Churn elsewhere: insert or remove one VMA.
			p := churnLo + rng.Uint64N(32)*PageSize
			if v := tx.Find(p); v != nil {
				tx.Remove(v)
			} else {
				v := New(p, p+PageSize, ProtRead, 0, 0, nil)
				v.SetRelease(release)
				tx.Insert(v)
			}
		} else {
			// MAP_FIXED over part of the window.
			a := winStart + rng.Uint64N(winPages)*PageSize
			n := 1 + rng.Uint64N(min(8, (winEnd-a)/PageSize))
			tx.Unmap(a, a+n*PageSize)
			v := New(a, a+n*PageSize, ProtRead|ProtWrite, 0, uint64(i), nil)
			v.SetRelease(release)
			tx.Insert(v)
		}
		tx.Commit()
		if err := tr.CheckLocked(); err != nil {
			t.Fatal(err)
		}
		// Free what has been released, a grace period later.
		relMu.Lock()
		batch := releasedVMAs
		releasedVMAs = nil
		relMu.Unlock()
		if len(batch) > 0 {
			rcu.Synchronize()
			for _, v := range batch {
				v.Poison()
			}
		}
	}
	done.Store(true)
	wg.Wait()
}

// reclaimFunc makes a function a Reclaimer.
type reclaimFunc func(func())

func (r reclaimFunc) Call(f func()) { r(f) }
