package mmap_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestPopulateStopsAtFailure: MAP_POPULATE, MAP_LOCKED and mprotect's
// populate of a locked mapping stop faulting a VMA at its first failed
// fault, as Linux's __mm_populate() does (ignore_errors moves on to the
// next VMA), so a populate costs in proportion to what it maps, not to
// the length asked for. With 64 frames, populating 1 GiB makes at most
// one out-of-memory fault per VMA, never one per page.
func TestPopulateStopsAtFailure(t *testing.T) {
	const frames = 64
	const length = 1 << 30
	rw := mmap.ProtRead | mmap.ProtWrite
	cases := map[string]func(as *mmap.AddressSpace) error{
		"MAP_POPULATE": func(as *mmap.AddressSpace) error {
			_, err := as.Mmap(0, length, rw, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapPopulate, nil, 0)
			return err
		},
		"MAP_LOCKED": func(as *mmap.AddressSpace) error {
			_, err := as.Mmap(0, length, rw, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapLocked, nil, 0)
			return err
		},
		"mprotect of a locked mapping": func(as *mmap.AddressSpace) error {
			addr, err := as.Mmap(0, length, mmap.ProtNone, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapLocked, nil, 0)
			if err != nil {
				return err
			}
			return as.Mprotect(addr, length, rw)
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			as := newAS(t, mmap.Config{PhysPages: frames})
			require.NoError(t, call(as))
			s := as.Stats()
			require.LessOrEqual(t, s.OOM, int64(1), "out-of-memory faults")
			require.LessOrEqual(t, s.Pgfault, int64(2*frames+2), "faults")
			require.Equal(t, frames, s.FramesInUse)
			require.NoError(t, as.Check())
		})
	}
}
