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

// fixedPages is the size of the mapping the MAP_FIXED workload replaces.
const fixedPages = 8

// genOf decodes the generation of a value written by val for page p, or
// reports that v is not such a value.
func genOf(v, p uint64) (uint64, bool) {
	if v>>48 != 0xC0DE || v&0xfff != p {
		return 0, false
	}
	return v >> 12 & 0xffff_ffff, true
}

// runFixedReplace is the MAP_FIXED-replace workload. Two reader threads
// read word 0 of the pages of a fixedPages mapping in a tight loop while
// the test goroutine replaces the whole mapping with MAP_FIXED, round
// after round, by a fresh file whose page p holds val(round, p); rounds
// alternate MAP_PRIVATE (with half the pages then copied on write, so
// replaces free anonymous frames) and MAP_SHARED, and every fourth file
// has a slow page cache, so slow-path faults straddle the replace. The
// TLBs hold 4 entries (unless cfg says otherwise): reader A reads every
// page and so misses on each read, walking the page table and faulting
// while the replace is under way; reader B reads the first half and so
// hits, using translations the replace must shoot down.
//
// The rules it checks, per read: no signal (the range is mapped before,
// during and after each replace); the value is not poison; and it is the
// contents of a generation g with g0 <= g <= g1+1, where g0 is the last
// round whose Mmap had returned when the read began and g1 the last when
// it ended (so a read that begins after Mmap returns sees the new
// mapping, and one overlapping a replace sees the old or the new one).
// Check runs every 16 rounds, concurrently with the readers, and at the
// end.
//
// With stopEarly it returns as soon as a violation is seen.
func runFixedReplace(t testing.TB, cfg mmap.Config, rounds int, stopEarly bool) *violations {
	if cfg.TLBEntries == 0 {
		cfg.TLBEntries = fixedPages / 2
	}
	as := newAS(t, cfg)
	vs := &violations{}
	const length = fixedPages * mmap.PageSize
	var (
		gen   atomic.Uint64 // last round whose Mmap has returned
		reads atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	w := as.NewThreadNamed("writer")
	defer w.Close()
	mapRound := func(g uint64) {
		var lat time.Duration
		if g%4 == 3 {
			lat = 50 * time.Microsecond
		}
		f := fileOf(fmt.Sprintf("fixed-%d", g), fixedPages, func(p uint64) uint64 { return val(g, p) }, lat)
		flags := mmap.MapFixed | mmap.MapPrivate
		if g%2 == 0 {
			flags = mmap.MapFixed | mmap.MapShared
		}
		addr, err := as.Mmap(arenaBase, length, mmap.ProtRead|mmap.ProtWrite, flags, f, 0)
		require.NoError(t, err)
		require.Equal(t, arenaBase, addr)
		// Store the value the page already holds: a private page becomes
		// an anonymous copy (freed, and poisoned, by the next replace); a
		// shared one is written in the page cache.
		for p := uint64(0); p < fixedPages; p += 2 {
			if err := w.WriteUint64(arenaBase+p*mmap.PageSize, val(g, p)); err != nil {
				vs.add("signal", "round %d: writer's store to page %d: %v", g, p, err)
			}
		}
		gen.Store(g)
	}
	mapRound(1)

	reader := func(th *mmap.Thread, pages uint64) {
		defer wg.Done()
		defer th.Close()
		for !stop.Load() && !vs.flooded() {
			for p := uint64(0); p < pages; p++ {
				g0 := gen.Load()
				v, err := th.ReadUint64(arenaBase + p*mmap.PageSize)
				g1 := gen.Load()
				reads.Add(1)
				if err != nil {
					vs.add("signal", "%s: read of page %d during rounds %d..%d: %v", th.Name(), p, g0, g1+1, err)
					continue
				}
				g, ok := genOf(v, p)
				switch {
				case v == poison:
					vs.add("poison", "%s: read of page %d during rounds %d..%d returned poison", th.Name(), p, g0, g1+1)
				case !ok:
					vs.add("garbage", "%s: read of page %d during rounds %d..%d returned %#x", th.Name(), p, g0, g1+1, v)
				case g < g0:
					vs.add("stale-after-return", "%s: read of page %d begun after round %d's mmap returned saw round %d", th.Name(), p, g0, g)
				case g > g1+1:
					vs.add("garbage", "%s: read of page %d during rounds %d..%d saw future round %d", th.Name(), p, g0, g1+1, g)
				}
			}
			// On 2 cores two spinning readers would keep the writer
			// off the CPU for a whole time slice.
			runtime.Gosched()
		}
	}
	wg.Add(2)
	go reader(as.NewThreadNamed("A"), fixedPages)
	go reader(as.NewThreadNamed("B"), fixedPages/2)
	defer func() { // also when a require below fails
		stop.Store(true)
		wg.Wait()
	}()

	for g := uint64(2); g <= uint64(rounds); g++ {
		// Let both readers fill their TLBs with this round's pages.
		before := reads.Load()
		waitFor(time.Second, func() bool { return reads.Load() >= before+4*fixedPages })
		mapRound(g)
		if g%16 == 0 {
			checkAS(as, vs, fmt.Sprintf("after round %d", g))
		}
		if vs.flooded() || stopEarly && vs.count() > 0 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	checkAS(as, vs, "at the end")
	return vs
}

// TestConcurrentFixedReplace: while two threads read a mapping that
// MAP_FIXED replaces again and again, each read returns the old or the
// new contents, never poison, garbage or a signal, and reads that begin
// after Mmap returns see the new mapping.
func TestConcurrentFixedReplace(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		vs := runFixedReplace(t, mmap.Config{Policy: p}, 100, false)
		require.Zero(t, vs.count(), vs.String())
	})
}
