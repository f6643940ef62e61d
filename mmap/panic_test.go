package mmap_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
)

// panicky is a user-written backing whose methods panic on demand: the
// backing of the panic-safety tests.
type panicky struct {
	open, close, fault, mapPages, pages, writable atomic.Bool
	opens, closes                                 atomic.Int64 // calls, counted before any panic
}

func (b *panicky) Name() string { return "panicky" }

func (b *panicky) Open(*fault.VMA) {
	b.opens.Add(1)
	if b.open.Load() {
		panic("Open")
	}
}

func (b *panicky) Close(*fault.VMA) {
	b.closes.Add(1)
	if b.close.Load() {
		panic("Close")
	}
}

func (b *panicky) Fault(vf *fault.VMFault) fault.Result {
	if b.fault.Load() {
		panic("Fault")
	}
	p, err := vf.Frames().Alloc()
	if err != nil {
		return fault.OOM
	}
	vf.Page, vf.Owned = p, true
	return 0
}

func (b *panicky) MapPages(*fault.VMFault, uint64, uint64) fault.Result {
	if b.mapPages.Load() {
		panic("MapPages")
	}
	return fault.Retry
}

func (b *panicky) Pages() uint64 {
	if b.pages.Load() {
		panic("Pages")
	}
	return 1 << 20
}

func (b *panicky) Writable() bool {
	if b.writable.Load() {
		panic("Writable")
	}
	return true
}

// mustPanic runs f and returns what it panicked with; the test fails if
// it returned.
func mustPanic(t *testing.T, what string, f func()) (p any) {
	t.Helper()
	func() {
		defer func() { p = recover() }()
		f()
	}()
	require.NotNil(t, p, "%s did not panic", what)
	return p
}

// panicValue returns the value a backing panicked with, seen through the
// *mmap.BackingPanic a syscall re-raises it as.
func panicValue(p any) any {
	if bp, ok := p.(*mmap.BackingPanic); ok {
		return bp.Value
	}
	return p
}

// withinDeadline runs f and fails the test if it has not returned after a
// generous limit: a lock left held by a panic shows as a deadlock.
func withinDeadline(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s deadlocked: a panic left a lock, a reference or an RCU section behind", what)
	}
}

// TestBackingPanicsLeaveNothingBehind: a panic raised by a user-written
// backing, in a fault (Fault, MapPages, Sizer.Pages) or in a syscall
// (Open, Writable, Close), reaches the caller and leaves no lock,
// transaction, reference or RCU section behind: afterwards every syscall
// and access works and Check passes, under every policy.
func TestBackingPanicsLeaveNothingBehind(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		b := &panicky{}
		const pages = 8
		rw := mmap.ProtRead | mmap.ProtWrite
		addr, err := as.MmapBacking(0, pages*mmap.PageSize, rw, mmap.MapShared, b, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		page := func(i int) uint64 { return addr + uint64(i)*mmap.PageSize }
		usable := func(what string, i int) {
			t.Helper()
			withinDeadline(t, "after "+what, func() {
				require.NoError(t, th.WriteUint64(page(i), uint64(i)), what)
				v, err := th.ReadUint64(page(i))
				require.NoError(t, err, what)
				require.EqualValues(t, i, v, what)
				require.NoError(t, as.Mprotect(page(i), mmap.PageSize, mmap.ProtRead), what)
				require.NoError(t, as.Mprotect(page(i), mmap.PageSize, rw), what)
				require.NoError(t, as.Check(), what)
			})
		}

		// Faults: the panic unwinds through the fault handler.
		for _, m := range []struct {
			name string
			on   *atomic.Bool
		}{{"Fault", &b.fault}, {"MapPages", &b.mapPages}, {"Pages", &b.pages}} {
			m.on.Store(true)
			got := mustPanic(t, "a fault with "+m.name+" panicking", func() { _, _ = th.ReadUint64(page(1)) })
			m.on.Store(false)
			require.Equal(t, m.name, panicValue(got))
			usable(m.name+" panicked", 1)
			require.NoError(t, as.Madvise(page(1), mmap.PageSize, mmap.MadvDontneed))
		}

		// Open panics while mprotect splits a VMA: the call completes,
		// then the panic reaches the caller.
		b.open.Store(true)
		got := mustPanic(t, "mprotect splitting", func() { _ = as.Mprotect(page(2), mmap.PageSize, mmap.ProtRead) })
		b.open.Store(false)
		require.Equal(t, "Open", panicValue(got))
		require.Len(t, as.Mappings(), 3)
		usable("Open panicked in mprotect", 3)

		// Open panics while mmap builds its VMA, and Writable panics:
		// the call changes nothing.
		before := as.Mappings()
		for name, m := range map[string]*atomic.Bool{"Open": &b.open, "Writable": &b.writable} {
			m.Store(true)
			got := mustPanic(t, "mmap", func() { _, _ = as.MmapBacking(0, mmap.PageSize, rw, mmap.MapShared, b, 0) })
			m.Store(false)
			require.Equal(t, name, panicValue(got))
			require.Equal(t, before, as.Mappings())
			usable(name+" panicked in mmap", 4)
		}

		// Close panics a grace period after munmap, on no caller's
		// goroutine: Check reports it, once, and nothing else is harmed.
		b.close.Store(true)
		require.NoError(t, as.Munmap(page(6), 2*mmap.PageSize))
		err = as.Check()
		var bp *mmap.BackingPanic
		require.True(t, errors.As(err, &bp), "Check: %v", err)
		require.Equal(t, "Close", bp.Value)
		b.close.Store(false)
		usable("Close panicked", 5)

		// Every VMA built was closed once: no reference was leaked. The
		// VMA whose Open panicked in mmap was never built.
		withinDeadline(t, "munmap of everything", func() {
			require.NoError(t, as.Munmap(addr, pages*mmap.PageSize))
			require.NoError(t, as.Check())
		})
		require.Equal(t, b.opens.Load()-1, b.closes.Load(), "Open and Close calls")
	})
}
