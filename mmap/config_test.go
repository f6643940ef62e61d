package mmap_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestConfigValidation: New refuses every field out of its documented
// range, with an error that names the field and wraps EINVAL, and builds
// nothing; each bad field of a Config gets its own error.
func TestConfigValidation(t *testing.T) {
	bad := []struct {
		field string
		cfg   mmap.Config
	}{
		{"Policy", mmap.Config{Policy: 7}},
		{"MmapBase", mmap.Config{MmapBase: 0x10000001}},
		{"MmapBase", mmap.Config{MmapBase: mmap.TaskSize + mmap.PageSize}},
		{"MinAddr", mmap.Config{MinAddr: 65536 + 1}},
		{"MinAddr", mmap.Config{MinAddr: 1 << 30, MmapBase: 1 << 20}},
		{"MaxMapCount", mmap.Config{MaxMapCount: -1}},
		{"MemlockLimit", mmap.Config{MemlockLimit: -2}},
		{"FaultAroundPages", mmap.Config{FaultAroundPages: -1}},
		{"FaultAroundPages", mmap.Config{FaultAroundPages: mmap.MaxFaultAroundPages + 1}},
		{"PhysPages", mmap.Config{PhysPages: -1}},
		{"PhysPages", mmap.Config{PhysPages: 1 << 40}},
		{"TLBEntries", mmap.Config{TLBEntries: -5}},
		{"TLBEntries", mmap.Config{TLBEntries: 1 << 30}},
		{"MaxRetries", mmap.Config{MaxRetries: -1}},
		{"Quirks", mmap.Config{Quirks: 1 << 31}},
	}
	for _, c := range bad {
		as, err := mmap.New(c.cfg)
		require.Nil(t, as, "%+v", c.cfg)
		require.ErrorIs(t, err, mmap.EINVAL, "%+v", c.cfg)
		require.ErrorContains(t, err, "Config."+c.field, "%+v", c.cfg)
	}

	// Two bad fields, two errors.
	_, err := mmap.New(mmap.Config{TLBEntries: -1, MaxRetries: -1})
	require.ErrorContains(t, err, "Config.TLBEntries")
	require.ErrorContains(t, err, "Config.MaxRetries")

	// The edges of every range are accepted, and Config reports the
	// defaults filled in.
	as, err := mmap.New(mmap.Config{
		PhysPages: mmap.MaxPhysPages, TLBEntries: mmap.MaxTLBEntries,
		FaultAroundPages: mmap.MaxFaultAroundPages, MemlockLimit: mmap.MemlockNone,
		Quirks: mmap.QuirkNoShootdown | mmap.QuirkNoDetachCheck,
	})
	require.NoError(t, err)
	th := as.NewThread()
	th.Close()
	require.NoError(t, as.Close())
	as, err = mmap.New(mmap.Config{})
	require.NoError(t, err)
	defer as.Close()
	c := as.Config()
	require.Equal(t, 3, c.MaxRetries)
	require.Equal(t, 64, c.TLBEntries)
	require.Equal(t, 16, c.FaultAroundPages)
	require.Equal(t, 1<<20, c.PhysPages)
	require.Equal(t, 65530, c.MaxMapCount)
	require.Equal(t, uint64(65536), c.MinAddr)
}
