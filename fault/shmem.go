package fault

// shmemName is how /proc/pid/maps names a MAP_SHARED|MAP_ANONYMOUS
// mapping: Linux backs it with a file on an internal tmpfs mount, set up
// by mm/shmem.c: shmem_zero_setup, whose dentry is named "/dev/zero" and
// unlinked.
const shmemName = "/dev/zero (deleted)"

// NewShmem returns the backing of a shared anonymous mapping of size
// bytes (MAP_SHARED|MAP_ANONYMOUS): a read-write, zero-filled file with
// no miss latency, named "/dev/zero (deleted)". Its pages are allocated
// zeroed on first touch, as minor faults (no Major), and shared by every
// VMA mapping it, including those a fork would inherit. It is a tmpfs
// file (see FileOptions.Tmpfs). A fault inside
// size never gets SIGBUS; size is rounded up to a page by the fault
// paths (Pages). A size beyond MaxFileSize is clamped to it.
func NewShmem(size uint64) *File {
	in := newInode(shmemName, 0)
	in.shmem, in.tmpfs = true, true
	in.size.Store(int64(min(size, uint64(MaxFileSize))))
	return &File{ino: in, writable: true}
}
