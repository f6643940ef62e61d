package mmap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// TestMemorySharedFile: two address spaces on one Memory that map a file
// MAP_SHARED see each other's stores and the file's, whichever of them
// closes first; the page cache outlives the first close and is released
// with the last.
func TestMemorySharedFile(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		for _, closeFirst := range []int{0, 1} {
			mem := mmap.NewMemory(64)
			f := mmap.NewFile("/data/shared", make([]byte, 2*mmap.PageSize), mmap.FileOptions{})
			var as [2]*mmap.AddressSpace
			var th [2]*mmap.Thread
			var addr [2]uint64
			for i := range as {
				var err error
				as[i], err = mmap.New(mmap.Config{Policy: p, Memory: mem})
				require.NoError(t, err)
				th[i] = as[i].NewThread()
				addr[i], err = th[i].Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared, f, 0)
				require.NoError(t, err)
			}
			require.NoError(t, th[0].WriteUint64(addr[0]+8, 0xA))
			require.NoError(t, th[1].WriteUint64(addr[1]+mmap.PageSize, 0xB))
			for i := range as {
				got, err := th[i].ReadUint64(addr[i] + 8)
				require.NoError(t, err)
				require.EqualValues(t, 0xA, got, "space %d reads the other's store", i)
				got, err = th[i].ReadUint64(addr[i] + mmap.PageSize)
				require.NoError(t, err)
				require.EqualValues(t, 0xB, got, "space %d", i)
				require.NoError(t, as[i].Check())
			}
			require.Equal(t, 2, mem.InUse(), "both spaces map the same two page-cache frames")

			other := 1 - closeFirst
			th[closeFirst].Close()
			require.NoError(t, as[closeFirst].Close())
			require.NoError(t, as[other].Check())
			_, err := f.WriteAt([]byte{0xC}, 16)
			require.NoError(t, err)
			got, err := th[other].ReadUint64(addr[other] + 16)
			require.NoError(t, err)
			require.EqualValues(t, 0xC, got, "the cache stays coherent with the file after the first close")
			th[other].Close()
			require.NoError(t, as[other].Close())
			require.Zero(t, mem.InUse(), "the last close releases the page cache")
		}
	})
}

// TestMemoryOtherMemory: a file whose cache lives in one Memory cannot be
// mapped from another until every address space that mapped it there
// has closed.
func TestMemoryOtherMemory(t *testing.T) {
	f := mmap.NewFile("/data/f", make([]byte, mmap.PageSize), mmap.FileOptions{})
	mem := mmap.NewMemory(0)
	a, err := mmap.New(mmap.Config{Memory: mem})
	require.NoError(t, err)
	b, err := mmap.New(mmap.Config{Memory: mem})
	require.NoError(t, err)
	c, err := mmap.New(mmap.Config{}) // a Memory of its own
	require.NoError(t, err)
	defer c.Close()
	for _, as := range []*mmap.AddressSpace{a, b} {
		_, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
		require.NoError(t, err)
	}
	_, err = c.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	require.ErrorIs(t, err, mmap.ENODEV)
	require.NoError(t, a.Close())
	_, err = c.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	require.ErrorIs(t, err, mmap.ENODEV, "b still maps the file from the first Memory")
	require.NoError(t, b.Close())
	_, err = c.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	require.NoError(t, err)
	require.NoError(t, c.Check())
}

// TestMemoryCensus: Check counts frames across every address space on the
// Memory, so a reference leaked in one is reported by the Check of
// another, and the Config of a space on a Memory reports its size.
func TestMemoryCensus(t *testing.T) {
	mem := mmap.NewMemory(16)
	a, err := mmap.New(mmap.Config{Memory: mem})
	require.NoError(t, err)
	defer a.Close()
	b, err := mmap.New(mmap.Config{Memory: mem, PhysPages: 999})
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, 16, b.Config().PhysPages)
	require.Same(t, mem, b.Config().Memory)

	tb := b.NewThread()
	defer tb.Close()
	addr, err := b.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	require.NoError(t, tb.WriteUint64(addr, 1))
	require.NoError(t, a.Check())

	put := b.TakeFrameRef(addr)
	err = a.Check()
	require.ErrorContains(t, err, "refcount 2", "a's Check sees b's frames")
	put()
	require.NoError(t, a.Check())

	// Physical memory is shared: b's page counts against a's allocations.
	ta := a.NewThread()
	defer ta.Close()
	big, err := a.Mmap(0, 16*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	for i := range uint64(15) {
		require.NoError(t, ta.WriteUint64(big+i*mmap.PageSize, i))
	}
	err = ta.WriteUint64(big+15*mmap.PageSize, 15)
	require.True(t, errors.Is(err, mmap.ENOMEM), "the 17th frame of a 16-frame Memory: %v", err)
	require.NoError(t, a.Check())
	require.NoError(t, b.Check())
}

// Inode numbers are given in the order files are first mapped on a
// Memory, so /proc/pid/maps reads the same in every run of a program,
// whatever the process did before: a deterministic exploration may
// observe it.
func TestInodeNumbersPerMemory(t *testing.T) {
	maps := func() string {
		as, err := mmap.New(mmap.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer as.Close()
		for _, name := range []string{"first", "second"} {
			f := mmap.NewFile(name, make([]byte, mmap.PageSize), mmap.FileOptions{})
			if f.Ino() != 0 {
				t.Fatalf("%s has inode number %d before it is mapped", name, f.Ino())
			}
			if _, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate, f, 0); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		if err := as.WriteMaps(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	first, again := maps(), maps()
	if first != again {
		t.Fatalf("the same program printed different maps:\n%s\nthen:\n%s", first, again)
	}
	for _, want := range []string{" 1 ", "first", " 2 ", "second"} {
		if !strings.Contains(first, want) {
			t.Fatalf("maps lack %q:\n%s", want, first)
		}
	}
}
