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

// protPages is the size of the mapping the mprotect workload protects.
const protPages = 4

// protBacking selects what the mprotect workload maps.
type protBacking int

const (
	protAnon       protBacking = iota // private anonymous memory
	protSharedFile                    // a shared mapping of one file, kept across rounds
)

func (b protBacking) String() string {
	if b == protAnon {
		return "anon"
	}
	return "shared-file"
}

// wval is the value writer i stores in its seq-th write of round g: never
// zero, never poison.
func wval(g uint64, i int, seq uint64) uint64 {
	return 0xBEEF<<48 | (g&0xffff)<<32 | uint64(i)<<28 | seq&0xfff_ffff
}

// runMprotect is the mprotect workload. Each round makes protPages pages
// at arenaBase writable (odd rounds: a fresh MAP_FIXED mapping; even
// rounds: mprotect back to read-write, which reuses the pages in place),
// starts two writer threads, each storing to its own word of every page
// and reading it back, and, once they have written a while, mprotects the
// range read-only (every third round only its first half). Then it waits
// for the writers and runs Check.
//
// The rules it checks:
//   - a store that began before Mprotect returned succeeds or gets
//     SIGSEGV/SEGV_ACCERR;
//   - a store that began after Mprotect returned gets SIGSEGV/SEGV_ACCERR
//     on a protected page (no stale writable TLB entry) and succeeds on a
//     page left writable;
//   - every load succeeds and returns the last value its thread stored
//     successfully to that word (only that thread writes it): no lost or
//     phantom store, no poison;
//   - Check holds after each round (no writable PTE in a read-only VMA).
func runMprotect(t testing.TB, cfg mmap.Config, backing protBacking, rounds int, stopEarly bool) *violations {
	as := newAS(t, cfg)
	vs := &violations{}
	const length = protPages * mmap.PageSize
	writers := []*mmap.Thread{as.NewThreadNamed("A"), as.NewThreadNamed("B")}
	// Writers run until they have stored after the mprotect, however long
	// the scheduler keeps the test goroutine away; abort stops them if it
	// fails instead.
	var (
		wg    sync.WaitGroup
		abort atomic.Bool
	)
	defer func() {
		abort.Store(true)
		wg.Wait()
		for _, th := range writers {
			th.Close()
		}
	}()
	// last[i][p] is the last value writer i stored successfully to its
	// word of page p. Owned by writer i's goroutine during a round, by
	// the test goroutine between rounds (wg orders them).
	last := make([][protPages]uint64, len(writers))
	file := fileOf("mprotect", protPages, func(uint64) uint64 { return 0 }, 0)

	for g := uint64(1); g <= uint64(rounds); g++ {
		if g%2 == 1 {
			var err error
			if backing == protAnon {
				_, err = as.Mmap(arenaBase, length, mmap.ProtRead|mmap.ProtWrite, mmap.MapFixed|mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
				clear(last) // fresh anonymous memory reads as zeros
			} else {
				_, err = as.Mmap(arenaBase, length, mmap.ProtRead|mmap.ProtWrite, mmap.MapFixed|mmap.MapShared, file, 0)
			}
			require.NoError(t, err)
		} else {
			require.NoError(t, as.Mprotect(arenaBase, length, mmap.ProtRead|mmap.ProtWrite))
		}
		protEnd := uint64(protPages)
		if g%3 == 0 {
			protEnd = protPages / 2
		}

		var (
			protected atomic.Bool
			progress  atomic.Int64
		)
		for i, th := range writers {
			wg.Add(1)
			go func(i int, th *mmap.Thread) {
				defer wg.Done()
				post := 0
				for seq := uint64(0); post < 4*protPages && !abort.Load(); seq++ {
					p := seq % protPages
					addr := arenaBase + p*mmap.PageSize + uint64(i)*8
					after := protected.Load()
					v := wval(g, i, seq)
					got := outcome(th.WriteUint64(addr, v))
					switch {
					case after && p < protEnd:
						post++
						if got != "accerr" {
							vs.add("stale-after-return", "round %d: %s's store to page %d begun after mprotect(PROT_READ) returned: %s", g, th.Name(), p, got)
						}
					case after && got != "ok":
						vs.add("signal", "round %d: %s's store to still-writable page %d: %s", g, th.Name(), p, got)
					case got != "ok" && got != "accerr":
						vs.add("signal", "round %d: %s's store to page %d during mprotect: %s", g, th.Name(), p, got)
					}
					if got == "ok" {
						last[i][p] = v
					}
					r, err := th.ReadUint64(addr)
					switch {
					case err != nil:
						vs.add("signal", "round %d: %s's load of page %d: %v", g, th.Name(), p, err)
					case r != last[i][p]:
						kind := "lost-store"
						if r == poison {
							kind = "poison"
						}
						vs.add(kind, "round %d: %s's load of page %d returned %s, its last store was %#x", g, th.Name(), p, describe(r), last[i][p])
					}
					progress.Add(1)
					if p == protPages-1 {
						runtime.Gosched()
					}
				}
			}(i, th)
		}
		// Let the writers fill their TLBs with writable entries.
		waitFor(time.Second, func() bool { return progress.Load() >= 4*protPages })
		require.NoError(t, as.Mprotect(arenaBase, protEnd*mmap.PageSize, mmap.ProtRead))
		protected.Store(true)
		wg.Wait()
		checkAS(as, vs, fmt.Sprintf("after round %d's mprotect", g))
		if vs.flooded() || stopEarly && vs.count() > 0 {
			break
		}
	}
	require.NoError(t, as.Munmap(arenaBase, length))
	checkAS(as, vs, "at the end")
	return vs
}

// TestConcurrentMprotect: stores racing with mprotect(PROT_READ) succeed
// or get SIGSEGV/SEGV_ACCERR; after Mprotect returns every store to the
// protected pages gets SIGSEGV/SEGV_ACCERR while loads still work and
// see the last successful store; Check holds after every round.
func TestConcurrentMprotect(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		for _, b := range []protBacking{protAnon, protSharedFile} {
			vs := runMprotect(t, mmap.Config{Policy: p}, b, 60, false)
			require.Zero(t, vs.count(), "%v: %v", b, vs)
		}
	})
}
