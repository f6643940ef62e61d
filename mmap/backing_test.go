package mmap_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
)

// keeper is a user-written backing that produces its pages on the first
// fault and keeps them (one reference each) until its last VMA closes, as
// a driver keeps its buffers; it declares them with CachedFrames
// (fault.FrameCache). With mapper set it also has the fast path, which
// counts the PTEs it installed itself and those it found present.
type keeper struct {
	mu     sync.Mutex
	pages  map[uint64]fault.PFN // pgoff → frame; protected by mu
	frames *fault.Frames        // the pool pages came from; protected by mu
	vmas   int                  // Open minus Close; protected by mu

	installed, present atomic.Int64
}

func newKeeper() *keeper { return &keeper{pages: make(map[uint64]fault.PFN)} }

func (k *keeper) Name() string { return "keeper" }
func (k *keeper) Open(*fault.VMA) {
	k.mu.Lock()
	k.vmas++
	k.mu.Unlock()
}

func (k *keeper) Close(*fault.VMA) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.vmas--; k.vmas > 0 {
		return
	}
	for off, p := range k.pages {
		k.frames.Put(p)
		delete(k.pages, off)
	}
}

func (k *keeper) Fault(vf *fault.VMFault) fault.Result {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.pages[vf.Pgoff]
	if !ok {
		var err error
		if p, err = vf.Frames().Alloc(); err != nil {
			return fault.OOM
		}
		vf.Frames().Store(p, 0, 0x5eed+vf.Pgoff)
		k.pages[vf.Pgoff], k.frames = p, vf.Frames()
	}
	vf.Frames().Get(p)
	vf.Page = p
	return 0
}

func (k *keeper) CachedFrames(frames *fault.Frames) []fault.PFN {
	k.mu.Lock()
	defer k.mu.Unlock()
	if frames != k.frames {
		return nil
	}
	var out []fault.PFN
	for _, p := range k.pages {
		out = append(out, p)
	}
	return out
}

// fastKeeper is a keeper with the fast path.
type fastKeeper struct{ *keeper }

func (k fastKeeper) MapPages(vf *fault.VMFault, start, end uint64) fault.Result {
	if !k.mu.TryLock() {
		return fault.Retry // MapPages must not block
	}
	defer k.mu.Unlock()
	res := fault.Retry
	for off := start; off < end; off++ {
		p, ok := k.pages[off]
		if !ok {
			continue
		}
		switch vf.MapPageResult(vf.VMA.Start+(off-vf.VMA.Pgoff)*fault.PageSize, p) {
		case fault.MapInstalled:
			k.installed.Add(1)
		case fault.MapPresent:
			k.present.Add(1)
		default:
			continue
		}
		if off == vf.Pgoff {
			res = fault.NoPage
		}
	}
	return res
}

// TestBackingKeepsFramesCheckIsExact: a backing that keeps pages it no
// longer maps declares them (fault.FrameCache), and Check's frame census
// counts them: no false leak. Once its last VMA closes and it frees them,
// nothing is in use.
func TestBackingKeepsFramesCheckIsExact(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		k := newKeeper()
		addr, err := as.MmapBacking(0, 4*mmap.PageSize, mmap.ProtRead, mmap.MapShared, k, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		for pg := range uint64(4) {
			v, err := th.ReadUint64(addr + pg*mmap.PageSize)
			require.NoError(t, err)
			require.Equal(t, 0x5eed+pg, v)
		}
		require.NoError(t, as.Madvise(addr, 4*mmap.PageSize, mmap.MadvDontneed)) // kept, not mapped
		require.NoError(t, as.Check())
		require.Equal(t, 4, as.Stats().FramesInUse)
		require.NoError(t, as.Munmap(addr, 4*mmap.PageSize))
		require.NoError(t, as.Check())
		require.Zero(t, as.Stats().FramesInUse)
	})
}

// TestMapPageResult: a backing's MapPages can tell the PTEs it installed
// from those a racing or earlier fault had installed.
func TestMapPageResult(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		k := fastKeeper{newKeeper()}
		const pages = 16 // one fault-around window
		// At an address aligned to the window, so that it is all inside.
		addr, err := as.MmapBacking(arenaBase, pages*mmap.PageSize, mmap.ProtRead, mmap.MapShared|mmap.MapFixed, k, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		for pg := range uint64(pages) { // the slow path produces every page
			_, err := th.ReadUint64(addr + pg*mmap.PageSize)
			require.NoError(t, err)
		}
		require.NoError(t, as.Madvise(addr, pages*mmap.PageSize/2, mmap.MadvDontneed))
		k.installed.Store(0)
		k.present.Store(0)
		_, err = th.ReadUint64(addr) // one fault maps the window around it
		require.NoError(t, err)
		require.EqualValues(t, pages/2, k.installed.Load(), "installed by this MapPages")
		require.EqualValues(t, pages/2, k.present.Load(), "already present")
		require.Equal(t, mmap.PageSize, fault.PageSize)
	})
}

// breaker is a backing that breaks the fault.Ops contract in one way.
type breaker struct {
	how string
}

func (b breaker) Name() string   { return "breaker-" + b.how }
func (breaker) Open(*fault.VMA)  {}
func (breaker) Close(*fault.VMA) {}
func (b breaker) Pages() uint64  { return 1 << 20 }
func (b breaker) Writable() bool { return true }
func (b breaker) Fault(vf *fault.VMFault) fault.Result {
	switch b.how {
	case "no page":
		return 0 // success, and vf.Page unset
	case "success after release":
		vf.ReleaseForIO()
		p, err := vf.Frames().Alloc()
		if err != nil {
			return fault.OOM
		}
		vf.Page, vf.Owned = p, true
		return 0 // must be Retry once the lock is released
	case "no page mapped":
		return fault.NoPage // says it mapped the page itself, and did not
	}
	return fault.SIGBUS
}

// wrongMapper maps its page outside the VMA and says it mapped the
// faulting one.
type wrongMapper struct{ breaker }

func (wrongMapper) MapPages(vf *fault.VMFault, start, end uint64) fault.Result {
	vf.MapPage(vf.VMA.End, 1) // outside: refused
	return fault.NoPage
}

// TestBackingContractViolation: a backing that breaks its contract ends
// the access with a *mmap.ContractError naming the backing and what it
// broke, after a bounded number of attempts, instead of spinning or
// corrupting memory; the address space stays whole.
func TestBackingContractViolation(t *testing.T) {
	cases := []struct {
		b     fault.Ops
		broke string
	}{
		{breaker{"no page"}, "without a page"},
		{breaker{"success after release"}, "ReleaseForIO"},
		{breaker{"no page mapped"}, "no PTE"},
		{wrongMapper{breaker{"mapper"}}, "no PTE"},
	}
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		for _, c := range cases {
			as := newAS(t, mmap.Config{Policy: p})
			addr, err := as.MmapBacking(0, 4*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared, c.b, 0)
			require.NoError(t, err)
			th := as.NewThread()
			var ce *mmap.ContractError
			withinDeadline(t, c.b.Name(), func() {
				_, err = th.ReadUint64(addr + mmap.PageSize)
			})
			if c.broke == "ReleaseForIO" && p == mmap.PolicyRCURefcount {
				// The slow path of rcu-refcount holds a reference, which
				// is never released for I/O: no contract to break.
				require.NoError(t, err)
			} else {
				require.True(t, errors.As(err, &ce), "%s: got %v", c.b.Name(), err)
				require.Equal(t, c.b.Name(), ce.Backing)
				require.Contains(t, ce.Error(), c.broke)
			}
			th.Close()
			require.NoError(t, as.Check(), c.b.Name())
		}
	})
}

// TestWriteFaultSkipsMapPages: a write fault never asks MapPages, whose
// read-only PTEs could not serve it (Linux calls ->map_pages from
// do_read_fault only): a write to a page a PageMapper backing has at hand
// and already maps read-only goes to Fault and succeeds.
func TestWriteFaultSkipsMapPages(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		k := fastKeeper{newKeeper()}
		addr, err := as.MmapBacking(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared, k, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		_, err = th.ReadUint64(addr) // read-only PTE
		require.NoError(t, err)
		require.NoError(t, th.WriteUint64(addr, 9))
		v, err := th.ReadUint64(addr)
		require.NoError(t, err)
		require.EqualValues(t, 9, v)
	})
}
