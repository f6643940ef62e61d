package mmap_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestNilFileIsEBADF: every entry point that maps a file treats a nil
// *File without MapAnonymous as a bad descriptor (EBADF, as mmap(2) with
// fd -1), and leaves the address space as it was and usable.
func TestNilFileIsEBADF(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		th := as.NewThread()
		defer th.Close()
		var nilFile *mmap.File
		calls := map[string]func() (uint64, error){
			"AddressSpace.Mmap": func() (uint64, error) {
				return as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, nilFile, 0)
			},
			"Thread.Mmap": func() (uint64, error) {
				return th.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, nilFile, 0)
			},
			"AddressSpace.MmapBacking": func() (uint64, error) {
				return as.MmapBacking(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, nilFile, 0)
			},
			"Thread.MmapBacking": func() (uint64, error) {
				return th.MmapBacking(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, nil, 0)
			},
		}
		for name, call := range calls {
			_, err := call()
			require.ErrorIs(t, err, mmap.EBADF, name)
			require.Empty(t, as.Mappings(), name)
			require.NoError(t, as.Check(), name)
		}
		// Still usable: a syscall and an access work.
		addr, err := th.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nilFile, 0)
		require.NoError(t, err)
		require.NoError(t, th.WriteUint64(addr, 7))
		require.NoError(t, as.Check())
	})
}

// TestWriteMapsNilWriter: WriteMaps with a nil io.Writer returns an error
// instead of panicking.
func TestWriteMapsNilWriter(t *testing.T) {
	as := newAS(t, mmap.Config{})
	_, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	require.Error(t, as.WriteMaps(nil))
}

// TestFailedMmapLeavesFileUnbound: an mmap of a file that fails after its
// checks of the file (a MAP_FIXED that would split a VMA at the map-count
// limit: ENOMEM; MAP_SYNC, which a File refuses: EOPNOTSUPP) leaves the
// file as it was: another address space maps and reads it, and the
// failing one's frames stay unused.
func TestFailedMmapLeavesFileUnbound(t *testing.T) {
	rw := mmap.ProtRead | mmap.ProtWrite
	cases := map[string]struct {
		cfg  mmap.Config
		call func(as *mmap.AddressSpace, f *mmap.File) error
		want error
	}{
		"split at the map-count limit": {
			cfg: mmap.Config{MaxMapCount: 2},
			call: func(as *mmap.AddressSpace, f *mmap.File) error {
				base := uint64(arenaBase)
				for i := range uint64(2) { // two VMAs that do not merge
					if _, err := as.Mmap(base+i*4*mmap.PageSize, 3*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixed, nil, 0); err != nil {
						return err
					}
				}
				_, err := as.Mmap(base+mmap.PageSize, mmap.PageSize, mmap.ProtRead, mmap.MapShared|mmap.MapFixed, f, 0)
				return err
			},
			want: mmap.ENOMEM,
		},
		"MAP_SYNC": {
			call: func(as *mmap.AddressSpace, f *mmap.File) error {
				_, err := as.Mmap(arenaBase, mmap.PageSize, mmap.ProtRead, mmap.MapSharedValidate|mmap.MapSync|mmap.MapFixed, f, 0)
				return err
			},
			want: mmap.EOPNOTSUPP,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := fileOf("f", 1, func(uint64) uint64 { return 0xf11e }, 0)
			as := newAS(t, c.cfg)
			require.ErrorIs(t, c.call(as, f), c.want)
			require.NoError(t, as.Check())

			other := newAS(t, mmap.Config{})
			addr, err := other.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
			require.NoError(t, err, "the failed mmap left the file bound to its address space")
			th := other.NewThread()
			defer th.Close()
			v, err := th.ReadUint64(addr)
			require.NoError(t, err)
			require.EqualValues(t, 0xf11e, v)
		})
	}
}
