//go:build linux && amd64

package mmap_test

import (
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/internal/kernel"
	"github.com/vmsim/vmsim/mmap"
)

// sysMemfdCreate is memfd_create's number on x86-64, which package
// syscall does not define.
const sysMemfdCreate = 319

// memfdCreate is memfd_create(name, 0): a file in the kernel's internal
// tmpfs.
func memfdCreate(name string) (*os.File, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return nil, err
	}
	fd, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(p)), 0, 0)
	if e != 0 {
		return nil, e
	}
	return os.NewFile(fd, "memfd:"+name), nil
}

// TestKernelTmpfsTail compares with the real kernel what a file keeps of
// bytes stored through a shared mapping beyond its end, in its last page,
// once it grows over them: a memfd (tmpfs) keeps them, a file on the disk
// file system of the test's temporary directory reads zeros, and the
// simulator's File does the same with and without FileOptions.Tmpfs. The
// bytes are read back with pread and through the mapping.
func TestKernelTmpfsTail(t *testing.T) {
	kernelAvailable(t)
	h, err := kernel.OpenAny(1 << 20)
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close()) }()
	addr := h.Window().Base
	var fs syscall.Statfs_t
	dir := t.TempDir()
	require.NoError(t, syscall.Statfs(dir, &fs))
	const tmpfsMagic = 0x01021994
	for _, tmpfs := range []bool{false, true} {
		for _, how := range []string{"ftruncate", "pwrite"} {
			if !tmpfs && fs.Type == tmpfsMagic {
				t.Skipf("%s is on tmpfs: no disk file system to compare with", dir)
			}
			// The kernel's file: 100 bytes, in tmpfs or on disk.
			var kf *os.File
			if tmpfs {
				kf, err = memfdCreate("tail")
			} else {
				kf, err = os.CreateTemp(dir, "tail")
			}
			require.NoError(t, err)
			require.NoError(t, kf.Truncate(tailSize))
			_, err = h.Mmap(addr, mmap.PageSize, uint32(mmap.ProtRead|mmap.ProtWrite), uint32(mmap.MapShared|mmap.MapFixed), int(kf.Fd()), 0)
			require.NoError(t, err)
			// The simulator's.
			sf := mmap.NewFile("tail", make([]byte, tailSize), mmap.FileOptions{Tmpfs: tmpfs})
			as := newAS(t, mmap.Config{})
			th := as.NewThread()
			saddr, err := th.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared, sf, 0)
			require.NoError(t, err)

			for _, off := range tailOffsets {
				require.NoError(t, h.Store(addr+uint64(off), 0xab))
				require.NoError(t, th.Write(saddr+uint64(off), []byte{0xab}))
			}
			extendFile(t, kf, how)
			extendFile(t, sf, how)
			for _, off := range tailOffsets {
				var kb, sb [1]byte
				_, err := kf.ReadAt(kb[:], off)
				require.NoError(t, err)
				_, err = sf.ReadAt(sb[:], off)
				require.NoError(t, err)
				require.Equal(t, kb[0], sb[0], "tmpfs %v, %s: pread at %d", tmpfs, how, off)
				km, err := h.Load(addr + uint64(off))
				require.NoError(t, err)
				require.NoError(t, th.Read(saddr+uint64(off), sb[:]))
				require.Equal(t, km, sb[0], "tmpfs %v, %s: load at +%d", tmpfs, how, off)
				want := byte(0)
				if tmpfs {
					want = 0xab
				}
				require.Equal(t, want, kb[0], "the kernel, tmpfs %v, %s, at %d", tmpfs, how, off)
			}
			require.NoError(t, h.Munmap(addr, mmap.PageSize))
			require.NoError(t, kf.Close())
			th.Close()
		}
	}
}
