package fault

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/vmsim/vmsim/pgtable"
)

// ErrOtherPool: the file's page cache is bound to another pool of
// physical frames (mmap reports ENODEV).
var ErrOtherPool = errors.New("fault: file's page cache belongs to another physical memory")

// Bind binds the file's page cache to frames before the first fault, so
// that mmap can refuse a file whose cache lives in another address
// space's physical memory. Binding the pool already bound is a no-op.
// Safe for concurrent use.
func (f *File) Bind(frames *pgtable.Frames) error {
	if f.ino.bind(frames) == nil {
		return ErrOtherPool
	}
	return nil
}

// CachedFrames returns the frames the page cache holds in frames' pool
// (one reference each), for census checks. Safe for concurrent use; the
// result is a snapshot.
func (f *File) CachedFrames(frames *pgtable.Frames) []pgtable.PFN {
	in := f.ino
	in.mu.Lock()
	defer in.mu.Unlock()
	pc := in.cache.Load()
	if pc == nil || pc.frames != frames {
		return nil
	}
	var out []pgtable.PFN
	pc.pages.RangeLocked(0, func(_ uint64, p pgtable.PFN) { out = append(out, p) })
	return out
}

// inodeNumbers assigns inode numbers, as a filesystem would, the first
// time one is asked for.
var inodeNumbers struct {
	sync.Mutex
	next atomic.Uint64
	m    map[*inode]uint64
}

// Ino returns the file's inode number, shown in /proc/pid/maps. Opens of
// the same file share it. Safe for concurrent use.
func (f *File) Ino() uint64 {
	inodeNumbers.Lock()
	defer inodeNumbers.Unlock()
	if inodeNumbers.m == nil {
		inodeNumbers.m = make(map[*inode]uint64)
	}
	n, ok := inodeNumbers.m[f.ino]
	if !ok {
		n = inodeNumbers.next.Add(1)
		inodeNumbers.m[f.ino] = n
	}
	return n
}
