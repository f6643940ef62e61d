package mmap_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestForkWhileWriting forks repeatedly while two other threads of the
// parent write its private anonymous, shared anonymous and private file
// pages, under every policy. Each writer stores, to each of its pages in
// turn, the count of its stores so far, so a page's value only grows.
// Every child must pass Check and see, at each page, a value the parent
// had stored there no later than the end of the fork: never poison,
// never a value from the future, and private pages never change in the
// child afterwards, whatever the parent writes; the child's own stores
// are never seen by the parent. After the children and then the parent
// close, the Memory holds no frame.
func TestForkWhileWriting(t *testing.T) {
	forkRounds := 40
	if raceEnabled {
		forkRounds = 12
	}
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		mem := mmap.NewMemory(0)
		f := fileOf("/data/fork", 16, func(uint64) uint64 { return 0 }, 0)
		par := newProc(t, mmap.Config{Policy: pol, Memory: mem})
		const pages = 16
		private := par.mmap(pages*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		shared := par.mmap(pages*mmap.PageSize, rw, mmap.MapShared|mmap.MapAnonymous, nil)
		file := par.mmap(pages*mmap.PageSize, rw, mmap.MapPrivate, f)
		areas := []uint64{private, shared, file}

		var stop atomic.Bool
		var latest [2][3][pages]atomic.Uint64 // the last value each writer stored or is storing
		var wg sync.WaitGroup
		for w := range 2 {
			th := par.as.NewThread()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer th.Close()
				for n := uint64(1); !stop.Load(); n++ {
					for ai, a := range areas {
						for p := uint64(w); p < pages; p += 2 { // each writer owns half the pages
							v := val(n, p)
							latest[w][ai][p].Store(v) // before the store: a bound on what anyone can see
							if err := th.WriteUint64(a+p*mmap.PageSize, v); err != nil {
								t.Errorf("writer %d: %v", w, err)
								return
							}
						}
					}
				}
			}()
		}
		for range forkRounds {
			ch := par.fork() // checks both
			var seen [3][pages]uint64
			for ai, a := range areas {
				for p := range uint64(pages) {
					v := ch.read(a + p*mmap.PageSize)
					if v != 0 && (v>>48 != 0xC0DE || v&0xfff != p) {
						t.Fatalf("%s: child reads %s at area %d page %d", pol, describe(v), ai, p)
					}
					if bound := latest[p%2][ai][p].Load(); v > bound {
						t.Fatalf("area %d page %d: child sees %#x, after the parent's latest %#x", ai, p, v, bound)
					}
					seen[ai][p] = v
				}
			}
			// The child's private pages are a snapshot; it writes its own.
			for _, ai := range []int{0, 2} {
				for p := range uint64(pages) {
					a := areas[ai] + p*mmap.PageSize
					require.Equal(t, seen[ai][p], ch.read(a), "the parent's later stores reach the child")
					ch.write(a, 0xC41D)
				}
			}
			require.NoError(t, ch.as.Check())
			ch.close()
		}
		stop.Store(true)
		wg.Wait()
		for _, ai := range []int{0, 2} {
			for p := range uint64(pages) {
				require.NotEqual(t, uint64(0xC41D), par.read(areas[ai]+p*mmap.PageSize), "a child's store reached the parent")
			}
		}
		par.close()
		require.Zero(t, mem.InUse(), "a frame leaked")
	})
}
