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
