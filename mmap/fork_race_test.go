package mmap_test

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// forkRaceRound forks an address space whose one private anonymous VMA
// has only the zero page mapped (so no anon_vma) while another thread of
// it writes that page, aimed at the window of the Linux 6.4 fork race:
// the fork's hook, between the child's anon_vma_fork and the copy of the
// page tables, lets the writer go and gives it a bounded while to finish
// its copy-on-write fault. It returns the child's Check error. Without
// the fork's VMA write marks the fault completes in the window, gives the
// parent VMA an anon_vma the child never cloned, and the copy then maps
// its page into the child; with them the fault waits for the fork.
func forkRaceRound(t *testing.T, cfg mmap.Config) error {
	as, err := mmap.New(cfg)
	require.NoError(t, err)
	defer as.Close()
	main, writer := as.NewThread(), as.NewThread()
	defer main.Close()
	a, err := main.Mmap(0, mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	_, err = main.ReadUint64(a) // the zero page, read-only: no anon_vma yet
	require.NoError(t, err)

	var window, done atomic.Bool
	restore := mmap.SetForkHook(func(start uint64) {
		if start != a {
			return
		}
		window.Store(true)
		for i := 0; i < 2000 && !done.Load(); i++ {
			runtime.Gosched() // bounded: a fault that waits for us never finishes here
		}
	})
	defer restore()
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer writer.Close()
		for !window.Load() {
			runtime.Gosched()
		}
		writeErr = writer.WriteUint64(a, 1)
		done.Store(true)
	}()
	child, err := main.Fork()
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, writeErr, "the writer's store")
	require.NoError(t, as.Check(), "the parent is always whole")
	defer child.Close()
	return child.Check()
}

// TestForkNoVMALockRace: QuirkForkNoVMALock re-creates the Linux 6.4 fork
// race under PolicyPerVMALock, and Check reports the child's broken
// reverse map; without the quirk, and under the other policies even with
// it (their faults give a VMA its first anon_vma only under the mmap
// lock, which fork holds), no round breaks it.
func TestForkNoVMALockRace(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		for _, q := range []mmap.Quirks{0, mmap.QuirkForkNoVMALock} {
			broken := 0
			const rounds = 20
			for range rounds {
				if err := forkRaceRound(t, mmap.Config{Policy: pol, Quirks: q}); err != nil {
					require.Contains(t, err.Error(), "broken reverse map")
					broken++
				}
			}
			t.Logf("%s %s: %d of %d rounds broke the reverse map", pol, q, broken, rounds)
			// Only the per-VMA lock lets a fault give a VMA its first
			// anon_vma without the mmap lock (rcu-refcount falls back to
			// it, as does every fault under mmap-lock): the race needs
			// that.
			if q == 0 || pol != mmap.PolicyPerVMALock {
				require.Zero(t, broken)
			} else {
				require.NotZero(t, broken, "the quirk's race was never caught")
			}
		}
	})
}

// TestForkNoVMALockName: the quirk has a name for the examples' -quirks flag.
func TestForkNoVMALockName(t *testing.T) {
	q, err := mmap.ParseQuirks("fork-no-vma-lock")
	require.NoError(t, err)
	require.Equal(t, mmap.QuirkForkNoVMALock, q)
	require.True(t, strings.Contains(q.String(), "fork-no-vma-lock"))
}
