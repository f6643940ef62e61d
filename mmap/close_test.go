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
