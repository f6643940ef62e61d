package mmap_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestCloseDuringSlowFileFault closes the address space while a thread's
// fault sleeps in a page-cache miss, for every policy and both kinds of
// file mapping. Close must wait for (or absorb) the fault in flight: no
// panic, the fault's access ends with nil or ErrClosed, no frame stays in
// use, and the file is free for another address space to map and read.
func TestCloseDuringSlowFileFault(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		for _, flags := range []mmap.Flag{mmap.MapShared, mmap.MapPrivate} {
			t.Run(flags.String(), func(t *testing.T) {
				f := fileOf("slow", 4, func(p uint64) uint64 { return val(1, p) }, 20*time.Millisecond)
				as, err := mmap.New(mmap.Config{Policy: p})
				require.NoError(t, err)
				addr, err := as.Mmap(0, 4*mmap.PageSize, mmap.ProtRead, flags, f, 0)
				require.NoError(t, err)
				th := as.NewThread()
				done := make(chan error, 1)
				go func() {
					_, err := th.ReadUint64(addr)
					th.Close()
					done <- err
				}()
				require.True(t, waitFor(5*time.Second, func() bool { return f.Stats().Misses > 0 }), "the fault never missed")
				require.NoError(t, as.Close())
				err = <-done
				require.True(t, err == nil || errors.Is(err, mmap.ErrClosed), "access ended with %v", err)
				require.Zero(t, as.Stats().FramesInUse, "frames left in use after Close")

				other := newAS(t, mmap.Config{Policy: p})
				addr, err = other.Mmap(0, 4*mmap.PageSize, mmap.ProtRead, flags, f, 0)
				require.NoError(t, err, "the file stayed bound to the closed address space")
				th2 := other.NewThread()
				defer th2.Close()
				v, err := th2.ReadUint64(addr + mmap.PageSize)
				require.NoError(t, err)
				require.Equal(t, val(1, 1), v)
				require.NoError(t, other.Check())
			})
		}
	})
}

// TestClosedThreadErrs: a Thread used after its Close returns
// ErrThreadClosed from every access and syscall, even at an address its
// TLB had cached and that has been unmapped (and its frame freed) since:
// it never reads or writes a frame again.
func TestClosedThreadErrs(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		addr, err := as.Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.NoError(t, err)
		th := as.NewThread()
		require.NoError(t, th.WriteUint64(addr, 42))
		require.NoError(t, th.WriteUint64(addr+mmap.PageSize, 43))
		th.Close()
		th.Close()                                         // idempotent
		require.NoError(t, as.Munmap(addr, mmap.PageSize)) // the first page's frame is freed

		buf := make([]byte, 8)
		calls := map[string]func() error{
			"ReadUint64 (unmapped)": func() error { _, err := th.ReadUint64(addr); return err },
			"ReadUint64 (mapped)":   func() error { _, err := th.ReadUint64(addr + mmap.PageSize); return err },
			"WriteUint64":           func() error { return th.WriteUint64(addr+mmap.PageSize, 1) },
			"Read":                  func() error { return th.Read(addr+mmap.PageSize, buf) },
			"Write":                 func() error { return th.Write(addr+mmap.PageSize, buf) },
			"Fault":                 func() error { return th.Fault(addr+mmap.PageSize, false) },
			"Fault above TaskSize":  func() error { return th.Fault(mmap.TaskSize, false) },
			"Mmap": func() error {
				_, err := th.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
				return err
			},
			"MmapBacking": func() error {
				_, err := th.MmapBacking(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate, mmap.NewFile("f", nil, mmap.FileOptions{}), 0)
				return err
			},
			"Munmap":   func() error { return th.Munmap(addr+mmap.PageSize, mmap.PageSize) },
			"Mprotect": func() error { return th.Mprotect(addr+mmap.PageSize, mmap.PageSize, mmap.ProtRead) },
			"Madvise":  func() error { return th.Madvise(addr+mmap.PageSize, mmap.PageSize, mmap.MadvDontneed) },
			"Mremap": func() error {
				_, err := th.Mremap(addr+mmap.PageSize, mmap.PageSize, 2*mmap.PageSize, mmap.MremapMaymove, 0)
				return err
			},
			"Fork": func() error {
				child, err := th.Fork()
				if child != nil {
					child.Close()
				}
				return err
			},
		}
		for name, call := range calls {
			require.ErrorIs(t, call(), mmap.ErrThreadClosed, name)
		}
		// Nothing the closed thread tried changed the address space.
		other := as.NewThread()
		defer other.Close()
		v, err := other.ReadUint64(addr + mmap.PageSize)
		require.NoError(t, err)
		require.EqualValues(t, 43, v)
		require.Len(t, as.Mappings(), 1)
		require.NoError(t, as.Check())
	})
}

// TestCloseClosesThreads: the address space's Close ends the threads left
// open: Stats counts none, their counts stay, and their accesses (even
// through a translation their TLB had cached) return ErrClosed.
func TestCloseClosesThreads(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as, err := mmap.New(mmap.Config{Policy: p})
		require.NoError(t, err)
		addr, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.NoError(t, err)
		th := as.NewThread()
		require.NoError(t, th.WriteUint64(addr, 1))
		_, err = th.ReadUint64(addr) // a TLB hit
		require.NoError(t, err)
		before := as.Stats()
		require.Equal(t, 1, before.Threads)
		require.NoError(t, as.Close())
		after := as.Stats()
		require.Zero(t, after.Threads)
		require.Equal(t, before.Pgfault, after.Pgfault)
		require.GreaterOrEqual(t, after.TLBHits, before.TLBHits)
		_, err = th.ReadUint64(addr)
		require.ErrorIs(t, err, mmap.ErrClosed)
		require.ErrorIs(t, th.WriteUint64(addr, 2), mmap.ErrClosed)
		_, err = th.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.ErrorIs(t, err, mmap.ErrClosed)
		th.Close()
		require.Zero(t, as.Stats().Threads)
		require.Equal(t, after.Pgfault, as.Stats().Pgfault)
	})
}

// TestFaultOutOfMemoryIsENOMEM: a fault that finds no free frame returns
// ENOMEM (Linux's VM_FAULT_OOM, where the kernel would run the OOM
// killer), not a *SignalError, as Thread.Fault documents.
func TestFaultOutOfMemoryIsENOMEM(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p, PhysPages: 4})
		addr, err := as.Mmap(0, 8*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		var last error
		for pg := range uint64(8) {
			if last = th.Fault(addr+pg*mmap.PageSize, true); last != nil {
				break
			}
		}
		require.ErrorIs(t, last, mmap.ENOMEM)
		var se *mmap.SignalError
		require.False(t, errors.As(last, &se))
		require.ErrorIs(t, th.WriteUint64(addr+7*mmap.PageSize, 1), mmap.ENOMEM)
		require.NoError(t, as.Check())
	})
}
