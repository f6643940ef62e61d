package mmap_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

const (
	stackRW   = mmap.ProtRead | mmap.ProtWrite
	stackAnon = mmap.MapPrivate | mmap.MapAnonymous | mmap.MapFixed
)

func requireSignal(t *testing.T, err error, code mmap.SigCode) {
	t.Helper()
	var se *mmap.SignalError
	require.True(t, errors.As(err, &se), "got %v, want SIGSEGV", err)
	require.Equal(t, mmap.SIGSEGV, se.Signo)
	require.Equal(t, code, se.Code)
}

// TestStackGrowth checks each rule of expand_downwards() under every
// policy: a load, a store or Thread.Fault below a MAP_GROWSDOWN VMA grows
// it down to the page (keeping its contents and lowering its offset, as a
// stack's grows), unless an accessible mapping lies within the stack
// guard gap, the stack would exceed StackLimit, or the page is below
// MinAddr; a refused growth is SIGSEGV/SEGV_MAPERR and changes nothing.
func TestStackGrowth(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		const top uint64 = 1 << 40
		as, err := mmap.New(mmap.Config{Policy: p, StackLimit: 8 * pg})
		require.NoError(t, err)
		defer as.Close()
		th := as.NewThread()
		defer th.Close()
		s, err := as.Mmap(top-2*pg, 2*pg, stackRW, stackAnon|mmap.MapGrowsDown, nil, 0)
		require.NoError(t, err)
		require.NoError(t, th.WriteUint64(s, 7))

		// A store three pages below grows the VMA to it; the old page
		// keeps its contents and the offset follows the start.
		require.NoError(t, th.WriteUint64(s-3*pg+8, 9))
		ms := as.Mappings()
		require.Len(t, ms, 1)
		require.Equal(t, s-3*pg, ms[0].Start)
		require.Equal(t, top, ms[0].End)
		v, err := th.ReadUint64(s)
		require.NoError(t, err)
		require.EqualValues(t, 7, v)
		// A load and a Fault grow it too.
		v, err = th.ReadUint64(s - 4*pg)
		require.NoError(t, err)
		require.Zero(t, v)
		require.NoError(t, th.Fault(s-5*pg+100, false))
		require.Equal(t, s-5*pg, as.Mappings()[0].Start)
		require.EqualValues(t, 3, as.Stats().StackGrowths)

		// RLIMIT_STACK: 8 pages is the limit, a ninth is refused.
		require.NoError(t, th.Fault(top-8*pg, true))
		requireSignal(t, th.Fault(top-9*pg, false), mmap.SegvMaperr)
		require.Equal(t, top-8*pg, as.Mappings()[0].Start)

		// The guard gap: an accessible mapping less than 256 pages below
		// the new start refuses the growth; a PROT_NONE one does not.
		g, err := as.Mmap(top-64*pg, 4*pg, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixed|mmap.MapGrowsDown, nil, 0)
		require.NoError(t, err)
		below := g - 258*pg
		_, err = as.Mmap(below, pg, mmap.ProtRead, stackAnon, nil, 0)
		require.NoError(t, err)
		require.NoError(t, th.Fault(g-pg, false)) // exactly 256 pages above it
		requireSignal(t, th.Fault(g-2*pg, false), mmap.SegvMaperr)
		require.Equal(t, g-pg, as.Mappings()[1].Start)
		require.NoError(t, as.Mprotect(below, pg, mmap.ProtNone))
		require.NoError(t, th.Fault(g-2*pg, false))
		require.Equal(t, g-2*pg, as.Mappings()[1].Start)
		// A write to the read-only stack grows it, then is refused.
		requireSignal(t, th.Fault(g-3*pg, true), mmap.SegvAccerr)
		require.Equal(t, g-3*pg, as.Mappings()[1].Start)

		// MinAddr: no growth below mmap_min_addr.
		low, err := as.Mmap(0x10000, pg, stackRW, stackAnon|mmap.MapGrowsDown, nil, 0)
		require.NoError(t, err)
		requireSignal(t, th.Fault(low-pg, false), mmap.SegvMaperr)
		require.Equal(t, low, as.Mappings()[0].Start)

		// A plain mapping above a gap does not grow.
		plain, err := as.Mmap(top+64*pg, pg, stackRW, stackAnon, nil, 0)
		require.NoError(t, err)
		requireSignal(t, th.Fault(plain-pg, false), mmap.SegvMaperr)
		require.NoError(t, as.Check())
	})
}

// TestStackGrowthConcurrent races threads that grow one stack page by
// page against each other and against mprotect and munmap of a page
// below it, under every policy: each access either succeeds and finds its
// own value or gets SIGSEGV, and Check holds at the end.
func TestStackGrowthConcurrent(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		const top uint64 = 1 << 40
		as, err := mmap.New(mmap.Config{Policy: p})
		require.NoError(t, err)
		defer as.Close()
		_, err = as.Mmap(top-pg, pg, stackRW, stackAnon|mmap.MapGrowsDown, nil, 0)
		require.NoError(t, err)
		const threads, pages = 4, 64
		var wg sync.WaitGroup
		errs := make(chan error, threads+1)
		for i := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				th := as.NewThread()
				defer th.Close()
				for pgn := 2 + i; pgn < pages; pgn += threads {
					a := top - uint64(pgn)*pg + uint64(8*i)
					if err := th.WriteUint64(a, uint64(pgn)); err != nil {
						errs <- fmt.Errorf("store at page %d: %v", pgn, err)
						return
					}
					if v, err := th.ReadUint64(a); err != nil || v != uint64(pgn) {
						errs <- fmt.Errorf("load at page %d: %d, %v", pgn, v, err)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// mprotect of the stack's first page splits and merges the
			// VMA the growers replace.
			for i := range 50 {
				prot := stackRW
				if i%2 == 0 {
					prot = mmap.ProtRead | mmap.ProtWrite | mmap.ProtExec
				}
				if err := as.Mprotect(top-pg, pg, prot); err != nil {
					errs <- err
					return
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		ms := as.Mappings()
		require.Equal(t, top-(pages-1)*pg, ms[0].Start)
		require.NoError(t, as.Check())
	})
}
