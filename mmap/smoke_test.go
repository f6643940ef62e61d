package mmap_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

func forEachPolicy(t *testing.T, f func(t *testing.T, p mmap.Policy)) {
	for _, p := range []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock} {
		t.Run(p.String(), func(t *testing.T) { f(t, p) })
	}
}

func TestSmokeAnon(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as, err := mmap.New(mmap.Config{Policy: p})
		require.NoError(t, err)
		defer as.Close()
		th := as.NewThread()
		addr, err := as.Mmap(0, 4*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.NoError(t, err)
		require.Equal(t, mmap.TaskSize-128<<20-4*mmap.PageSize, addr)
		v, err := th.ReadUint64(addr)
		require.NoError(t, err)
		require.Zero(t, v)
		require.NoError(t, th.WriteUint64(addr+8, 42))
		v, err = th.ReadUint64(addr + 8)
		require.NoError(t, err)
		require.EqualValues(t, 42, v)
		require.NoError(t, as.Check())
		require.NoError(t, as.Munmap(addr, 4*mmap.PageSize))
		_, err = th.ReadUint64(addr + 8)
		var se *mmap.SignalError
		require.True(t, errors.As(err, &se), "got %v", err)
		require.Equal(t, mmap.SIGSEGV, se.Signo)
		require.Equal(t, mmap.SegvMaperr, se.Code)
		require.NoError(t, as.Check())
		require.Zero(t, as.Stats().FramesInUse)
	})
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock} {
		got, err := mmap.ParsePolicy(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := mmap.ParsePolicy("big-kernel-lock")
	require.Error(t, err)
}
