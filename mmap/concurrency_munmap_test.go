package mmap_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// munmapBacking selects what the munmap workload maps.
type munmapBacking int

const (
	// munmapAnon: private anonymous memory, even pages written before the
	// readers start (so unmapping frees frames that readers still hold in
	// their TLBs), odd pages left to be faulted (zero page) by readers.
	munmapAnon munmapBacking = iota
	// munmapSlowFile: a shared mapping of a fresh file whose page-cache
	// misses sleep, so readers' faults are on the slow path, holding a
	// VMA reference across the sleep, when the munmap runs.
	munmapSlowFile
)

func (b munmapBacking) String() string {
	if b == munmapAnon {
		return "anon"
	}
	return "slow-file"
}

// slowMiss is the page-cache miss latency of munmapSlowFile.
const slowMiss = time.Millisecond

// runMunmap is the munmap workload. Each round maps munmapPages pages at
// arenaBase (MAP_FIXED, replacing the previous round's leftovers), starts
// two reader threads that read word 0 of every page in a loop, lets them
// fill their TLBs (anon) or waits until a fault is sleeping on a page-cache
// miss (slow file), and munmaps the whole range (odd rounds) or its first
// half (even rounds). Then it waits for the readers and runs Check.
// The anonymous mapping has 64 pages, as many as a TLB holds, so that a
// munmap frees 32 frames: the wider the window between freeing and
// flushing, the likelier a reader on another CPU hits it.
//
// The rules it checks:
//   - a read that began before Munmap returned gets the page's contents or
//     SIGSEGV/SEGV_MAPERR, never poison, other data or another signal;
//   - a read that began after Munmap returned gets SIGSEGV/SEGV_MAPERR on
//     an unmapped page (no stale TLB entry, and no PTE installed by a
//     fault that was asleep during the munmap), and the contents on a page
//     still mapped;
//   - Check holds after each round: in particular no PTE lies outside a
//     VMA, and no frame leaked.
func runMunmap(t testing.TB, cfg mmap.Config, backing munmapBacking, rounds int, stopEarly bool) *violations {
	as := newAS(t, cfg)
	vs := &violations{}
	munmapPages := uint64(64)
	if backing == munmapSlowFile {
		munmapPages = 8
	}
	length := munmapPages * mmap.PageSize
	warmReads := 2 * munmapPages // enough to fill a TLB with every page
	w := as.NewThreadNamed("writer")
	defer w.Close()
	readers := []*mmap.Thread{as.NewThreadNamed("A"), as.NewThreadNamed("B")}
	// Readers run until they have read after the munmap, however long the
	// scheduler keeps the test goroutine away; abort stops them if it
	// fails instead.
	var (
		wg    sync.WaitGroup
		abort atomic.Bool
	)
	defer func() {
		abort.Store(true)
		wg.Wait()
		for _, th := range readers {
			th.Close()
		}
	}()

	for g := uint64(1); g <= uint64(rounds); g++ {
		expect := func(p uint64) uint64 { return val(g, p) }
		var file *mmap.File
		switch backing {
		case munmapAnon:
			_, err := as.Mmap(arenaBase, length, mmap.ProtRead|mmap.ProtWrite, mmap.MapFixed|mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
			require.NoError(t, err)
			for p := uint64(0); p < munmapPages; p += 2 {
				require.NoError(t, w.WriteUint64(arenaBase+p*mmap.PageSize, val(g, p)))
			}
			expect = func(p uint64) uint64 {
				if p%2 == 0 {
					return val(g, p)
				}
				return 0
			}
		case munmapSlowFile:
			file = fileOf(fmt.Sprintf("munmap-%d", g), int(munmapPages), expect, slowMiss)
			flags := mmap.MapFixed | mmap.MapShared
			if g%3 == 0 {
				flags = mmap.MapFixed | mmap.MapPrivate
			}
			_, err := as.Mmap(arenaBase, length, mmap.ProtRead, flags, file, 0)
			require.NoError(t, err)
		}
		unmapEnd := munmapPages
		if g%2 == 0 {
			unmapEnd = munmapPages / 2
		}

		var (
			unmapped atomic.Bool
			warm     atomic.Int64 // readers past their first warmReads reads
		)
		for i, th := range readers {
			wg.Add(1)
			go func(th *mmap.Thread, first uint64) {
				defer wg.Done()
				post := uint64(0)
				for i := uint64(0); post < 4*munmapPages && !abort.Load(); i++ {
					p := (first + i) % munmapPages
					after := unmapped.Load()
					v, err := th.ReadUint64(arenaBase + p*mmap.PageSize)
					got := outcome(err)
					switch {
					case after && p < unmapEnd:
						post++
						if got != "maperr" {
							vs.add("stale-after-return", "round %d: %s's read of page %d begun after munmap returned: %s, value %s", g, th.Name(), p, got, describe(v))
						}
					case after && got != "ok":
						vs.add("signal", "round %d: %s's read of still-mapped page %d: %s", g, th.Name(), p, got)
					case got == "maperr":
					case got != "ok":
						vs.add("signal", "round %d: %s's read of page %d during munmap: %s", g, th.Name(), p, got)
					case v != expect(p):
						kind := "garbage"
						if v == poison {
							kind = "poison"
						}
						vs.add(kind, "round %d: %s's read of page %d returned %s, want %#x", g, th.Name(), p, describe(v), expect(p))
					}
					if i == warmReads {
						warm.Add(1)
					}
					if p == munmapPages-1 {
						runtime.Gosched()
					}
				}
			}(th, uint64(i)*munmapPages/2)
		}
		switch backing {
		case munmapAnon:
			// Let the readers fill their TLBs and fault the odd pages.
			waitFor(time.Second, func() bool { return warm.Load() == int64(len(readers)) })
		case munmapSlowFile:
			// Unmap while a fault sleeps on a miss, holding its VMA.
			waitFor(time.Second, func() bool { return file.Stats().Misses > 0 })
		}
		require.NoError(t, as.Munmap(arenaBase, unmapEnd*mmap.PageSize))
		unmapped.Store(true)
		wg.Wait()
		checkAS(as, vs, fmt.Sprintf("after round %d's munmap", g))
		if vs.flooded() || stopEarly && vs.count() > 0 {
			break
		}
	}
	require.NoError(t, as.Munmap(arenaBase, length))
	checkAS(as, vs, "at the end")
	return vs
}

// TestConcurrentMunmap: accesses racing with munmap see the contents or
// SIGSEGV/SEGV_MAPERR; after Munmap returns every access to the range
// gets SIGSEGV/SEGV_MAPERR, including those whose slow-path fault was
// asleep on a page-cache miss during the munmap; Check (PTEs only inside
// VMAs, no leaked frame) holds after every round.
func TestConcurrentMunmap(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		for _, b := range []munmapBacking{munmapAnon, munmapSlowFile} {
			rounds := 60
			if b == munmapSlowFile {
				rounds = 25
			}
			vs := runMunmap(t, mmap.Config{Policy: p}, b, rounds, false)
			require.Zero(t, vs.count(), "%v: %v", b, vs)
		}
	})
}
