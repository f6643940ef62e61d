package mmap_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
)

// tailSize is the size the tmpfs tests give a file before extending it:
// its only page is partial, bytes 100..4095 lie beyond the end.
const tailSize = 100

// tailOffsets are the bytes beyond the end of a tailSize file, in its
// last page, that the tmpfs tests store to through a shared mapping.
var tailOffsets = []int64{200, mmap.PageSize - 1}

// extendable is a file that can grow: an *mmap.File, or an *os.File of
// the real kernel.
type extendable interface {
	Truncate(size int64) error
	WriteAt(p []byte, off int64) (int, error)
}

// extendFile grows f beyond its last page, as ftruncate or as a pwrite.
func extendFile(t *testing.T, f extendable, how string) {
	t.Helper()
	switch how {
	case "ftruncate":
		require.NoError(t, f.Truncate(2*mmap.PageSize))
	case "pwrite":
		_, err := f.WriteAt([]byte{1}, 2*mmap.PageSize)
		require.NoError(t, err)
	default:
		t.Fatalf("extend by %q", how)
	}
}

// TestTmpfsKeepsTailPastEOF: bytes stored through a shared mapping beyond
// the end of a file, in its last page, read back once the file grows
// over them if the file is in tmpfs (FileOptions.Tmpfs, or NewShmem), as
// Linux's shmem keeps that page; a file on a disk file system reads zeros
// there. Both through the mapping and with ReadAt, whether the file grows
// while mapped or after the address space that cached it has closed.
func TestTmpfsKeepsTailPastEOF(t *testing.T) {
	files := map[string]func() (f *mmap.File, keeps bool){
		"disk": func() (*mmap.File, bool) {
			return mmap.NewFile("disk", make([]byte, tailSize), mmap.FileOptions{}), false
		},
		"tmpfs": func() (*mmap.File, bool) {
			return mmap.NewFile("memfd", make([]byte, tailSize), mmap.FileOptions{Tmpfs: true}), true
		},
		"shmem": func() (*mmap.File, bool) { return fault.NewShmem(tailSize), true },
	}
	for name, mk := range files {
		for _, how := range []string{"ftruncate", "pwrite"} {
			for _, closeFirst := range []bool{false, true} {
				f, keeps := mk()
				as := newAS(t, mmap.Config{})
				th := as.NewThread()
				addr, err := th.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared, f, 0)
				require.NoError(t, err)
				for _, off := range tailOffsets {
					require.NoError(t, th.Write(addr+uint64(off), []byte{0xab}))
				}
				if closeFirst {
					th.Close()
					require.NoError(t, as.Close())
				}
				extendFile(t, f, how)
				for _, off := range tailOffsets {
					want := byte(0)
					if keeps {
						want = 0xab
					}
					var b [1]byte
					_, err := f.ReadAt(b[:], off)
					require.NoError(t, err)
					require.Equal(t, want, b[0], "%s extended by %s (closed first: %v): ReadAt(%d)", name, how, closeFirst, off)
					if !closeFirst {
						require.NoError(t, th.Read(addr+uint64(off), b[:]))
						require.Equal(t, want, b[0], "%s extended by %s: load at +%d", name, how, off)
					}
				}
				if !closeFirst {
					require.NoError(t, as.Check())
					th.Close()
				}
			}
		}
	}
}
