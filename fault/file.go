package fault

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/vma"
)

// The built-in file backing: an in-memory file whose contents live on a
// simulated "disk" (a sparse set of pages in Go memory) and, while cached,
// in page-cache frames that MAP_SHARED mappings map directly. The page
// cache is the truth for a cached page; the disk holds the rest and
// receives cached pages when the cache is dropped.
//
// Lock order (outermost first):
//
//	inode.truncMu (i_rwsem: Truncate, WriteAt)
//	  the MM's locks, taken by Truncate's OnTruncate callbacks
//	    inode.mu (page-cache insert/remove and the disk)
//	      pgtable.Frames' free-list lock
//
// So package mmap must not call Truncate or WriteAt with an MM lock held.
// inode.mu is never held while calling out, and no MM lock is needed
// under it. inode.cbMu and inode.vmasMu are leaves. No inode lock is held
// across a miss's simulated I/O, and MapPages takes none (it reads the
// size atomically, as the handler does under the page-table lock).

// Errors returned by File methods. Package mmap maps them to errnos.
var (
	// ErrNotWritable: WriteAt on a read-only open (EBADF, as pwrite on an
	// O_RDONLY descriptor).
	ErrNotWritable = errors.New("fault: file not open for writing")
	// ErrInvalid: a negative offset or size, or Truncate on a read-only
	// open (EINVAL, as pread/pwrite/ftruncate).
	ErrInvalid = errors.New("fault: invalid argument")
	// ErrTooLarge: the file would grow beyond MaxFileSize (EFBIG).
	ErrTooLarge = errors.New("fault: file too large")
)

// MaxFileSize is the largest size a File may have: 2^47 bytes, the size of
// the x86-64 user address space, so that every page offset of a file fits
// in a mapping's arithmetic without overflow.
const MaxFileSize int64 = 1 << 47

// FileOptions configures NewFile. The zero value is a file whose misses
// take no time.
type FileOptions struct {
	// MissLatency is how long a page-cache miss "reads from disk": the
	// fault that does the I/O really sleeps that long, with no lock held.
	// 0 means no sleep, but a miss is still a miss (a Major fault, an I/O
	// in Stats).
	MissLatency time.Duration
	// Tmpfs makes the file one in tmpfs (a memfd), as NewShmem's are:
	// bytes stored through a shared mapping beyond the end of the file,
	// in its last page, survive a later extension (ftruncate or a write
	// past the end), because shmem keeps that page whole; on a disk file
	// system they read as zeros once the file grows over them.
	Tmpfs bool
}

// FileStats are an inode's page-cache counters, shared by every open of
// it. Each field is read atomically but the struct is not a snapshot.
type FileStats struct {
	CachedPages int64 // pages now in the page cache
	Misses      int64 // Fault calls that found their page uncached
	Hits        int64 // Fault calls and MapPages fast paths served from the cache
	Reads       int64 // page reads done (I/Os; for shmem, zero-filled pages allocated)
	Waits       int64 // Fault calls that waited for another fault's I/O of their page
}

// File is an open of an in-memory file with a page cache: Linux's struct
// file (an open file description, with its access mode) over an inode
// (contents, size and page cache, shared by every open of the same file).
//
// File implements Ops, PageMapper and Sizer, so a *File is the Backing of
// the VMAs that map it, and io.ReaderAt and io.WriterAt, coherent with
// MAP_SHARED mappings: a page that is cached is read and written in its
// frame, which shared mappings map.
//
// An inode's page cache belongs to one pool of physical frames (one
// *pgtable.Frames: package mmap's Memory, which several address spaces
// may share). The first fault binds it; a fault from another pool gets
// SIGBUS until the cache is released with ReleaseFrames or DropCache.
//
// Concurrency: every method is safe for concurrent use.
type File struct {
	ino      *inode // immutable; shared with every open of the file
	writable bool   // immutable; opened O_RDWR
}

// inode is a file's contents, size and page cache.
type inode struct {
	name    string        // immutable
	latency time.Duration // immutable; FileOptions.MissLatency
	shmem   bool          // immutable; shared anonymous memory: fills are minor faults
	// tmpfs is FileOptions.Tmpfs (true for shmem): the last page is kept
	// whole, bytes beyond the end included, when the file grows and
	// when its cache is dropped. Immutable.
	tmpfs bool

	// size is i_size in bytes. Atomic so that Pages and the fault paths
	// read it without a lock; written only with truncMu and mu held.
	size atomic.Int64
	// cache is the page cache bound to a frame pool, or nil while no
	// fault has bound one. Atomic: set from nil by compare-and-swap
	// (bind), cleared with mu held (releaseLocked).
	cache atomic.Pointer[pageCache]

	// truncMu serializes the operations that change the size (Truncate,
	// WriteAt), as Linux's i_rwsem, so that a Truncate's three phases
	// (shrink, zap, drop) see no size change in between. Never held by a
	// fault. A sched.Mutex: Truncate holds it across the callbacks that
	// zap mappings, which are full of scheduling points.
	truncMu sched.Mutex
	// sched is the Sched truncMu is bound to (BindSched), or nil. Atomic;
	// stored once, with schedMu held.
	sched   atomic.Pointer[sched.Sched]
	schedMu sync.Mutex

	// mu protects disk and every change to the page cache's contents,
	// and is held to read a cached frame in ReadAt (so it cannot be
	// dropped meanwhile). Never held across the simulated I/O.
	mu sync.Mutex
	// disk holds the file's pages not in the cache (and stale copies of
	// those that are): page index → contents; an absent page is zeros.
	// Bytes beyond size are zero, except in the last page of a tmpfs
	// file (where they are what shmem's page holds). Protected by mu.
	disk map[uint64]*[pgtable.PageSize]byte

	// cbMu protects callbacks and nextCB.
	cbMu      sync.Mutex
	callbacks map[uint64]func(startPgoff, endPgoff uint64)
	nextCB    uint64

	// vmasMu protects vmas.
	vmasMu sync.Mutex
	// vmas is the set of VMA objects mapping the inode (Linux: the
	// i_mmap tree), maintained by Open and Close.
	vmas map[*vma.VMA]struct{}

	// number is the inode number (Ino), 0 until NumberIno gives it one.
	// Atomic; set once.
	number atomic.Uint64

	// Statistics; atomic.
	cached, misses, hits, reads, waits atomic.Int64
}

// NewFile returns a read-write open of a new file named name (the path
// shown in /proc/pid/maps) holding a copy of data.
func NewFile(name string, data []byte, opt FileOptions) *File {
	in := newInode(name, opt.MissLatency)
	in.tmpfs = opt.Tmpfs
	for off := 0; off < len(data); off += pgtable.PageSize {
		pg := new([pgtable.PageSize]byte)
		copy(pg[:], data[off:])
		if !isZero(pg[:]) {
			in.disk[uint64(off/pgtable.PageSize)] = pg
		}
	}
	in.size.Store(int64(len(data)))
	return &File{ino: in, writable: true}
}

func newInode(name string, latency time.Duration) *inode {
	return &inode{
		name:      name,
		latency:   latency,
		disk:      make(map[uint64]*[pgtable.PageSize]byte),
		callbacks: make(map[uint64]func(uint64, uint64)),
		vmas:      make(map[*vma.VMA]struct{}),
	}
}

// OpenReadOnly returns a new read-only (O_RDONLY) open of the same file:
// it shares the contents, size and page cache with f.
func (f *File) OpenReadOnly() *File { return &File{ino: f.ino} }

// SameFile reports whether f and g are opens of the same file: they share
// its contents, size and page cache. Immutable.
func (f *File) SameFile(g *File) bool { return f.ino == g.ino }

// Writable reports whether the file was opened read-write. Immutable.
func (f *File) Writable() bool { return f.writable }

// Name returns the path shown in /proc/pid/maps. Immutable.
func (f *File) Name() string { return f.ino.name }

// Size returns the file's size in bytes.
func (f *File) Size() int64 { return f.ino.size.Load() }

// Pages returns the number of pages holding any byte of the file,
// ceil(Size()/PageSize): the Sizer the handler re-checks under the
// page-table lock. It never blocks.
func (f *File) Pages() uint64 { return pagesOf(f.ino.size.Load()) }

// pagesOf returns ceil(size / PageSize).
func pagesOf(size int64) uint64 {
	return (uint64(size) + pgtable.PageSize - 1) / pgtable.PageSize
}

// Stats returns the inode's page-cache counters.
func (f *File) Stats() FileStats {
	in := f.ino
	return FileStats{
		CachedPages: in.cached.Load(),
		Misses:      in.misses.Load(),
		Hits:        in.hits.Load(),
		Reads:       in.reads.Load(),
		Waits:       in.waits.Load(),
	}
}

// Open records that v maps the file (Linux: vma_interval_tree_insert into
// i_mmap, and vm_ops->open). Package vma calls it when it builds v.
func (f *File) Open(v *vma.VMA) {
	f.ino.vmasMu.Lock()
	f.ino.vmas[v] = struct{}{}
	f.ino.vmasMu.Unlock()
}

// Close records that v no longer maps the file (vm_ops->close,
// remove_vma). The owner calls it once per VMA, after its grace period.
func (f *File) Close(v *vma.VMA) {
	f.ino.vmasMu.Lock()
	delete(f.ino.vmas, v)
	f.ino.vmasMu.Unlock()
}

// MapCount returns how many VMA objects, in every address space, have
// been Opened and not yet Closed on the file (Linux: the size of the
// i_mmap tree). The value may be stale by the time it is used.
func (f *File) MapCount() int {
	f.ino.vmasMu.Lock()
	defer f.ino.vmasMu.Unlock()
	return len(f.ino.vmas)
}

// isZero reports whether every byte of b is zero.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Interface checks: a *File is a full backing.
var (
	_ Ops        = (*File)(nil)
	_ PageMapper = (*File)(nil)
	_ Sizer      = (*File)(nil)
	_ FrameCache = (*File)(nil)
)
