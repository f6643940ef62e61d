package fault

import (
	"errors"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
)

// ErrOtherPool: the file's page cache is bound to another pool of
// physical frames (mmap reports ENODEV).
var ErrOtherPool = errors.New("fault: file's page cache belongs to another physical memory")

// ErrOtherSched: the file is used by address spaces controlled by another
// Sched (another schedule of an exploration, running or yet to run), or by
// free-running ones while a controlled run uses it; mmap reports ENODEV.
// A file used in a controlled run should be made by that run's scenario.
var ErrOtherSched = errors.New("fault: file belongs to another controlled run")

// BindSched binds the file's size lock to s (see package sched), so that a
// Truncate or WriteAt racing with faults in a controlled run is a wait
// the Sched knows about; package mmap calls it when an address space maps
// the file. A file is bound to one Sched at a time: binding the Sched it
// is bound to is a no-op; a file that is unbound, or bound to a Sched
// whose run has finished, takes s (a nil s makes it free-running again);
// any other binding returns ErrOtherSched and changes nothing. Safe for
// concurrent use.
func (f *File) BindSched(s *sched.Sched) error {
	in := f.ino
	in.schedMu.Lock()
	defer in.schedMu.Unlock()
	if err := in.checkSchedLocked(s); err != nil {
		return err
	}
	if in.sched.Load() != s {
		in.truncMu.Bind(s, "i_rwsem")
		in.sched.Store(s)
	}
	return nil
}

// CheckSched reports the error BindSched(s) would return, changing
// nothing. Safe for concurrent use.
func (f *File) CheckSched(s *sched.Sched) error {
	in := f.ino
	in.schedMu.Lock()
	defer in.schedMu.Unlock()
	return in.checkSchedLocked(s)
}

// checkSchedLocked is CheckSched. Preconditions: in.schedMu is held.
func (in *inode) checkSchedLocked(s *sched.Sched) error {
	if cur := in.sched.Load(); cur != s && cur != nil && !cur.Finished() {
		return ErrOtherSched
	}
	return nil
}

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

// Ino returns the file's inode number, shown in /proc/pid/maps: the
// number NumberIno gave it (package mmap numbers files in the order they
// are first mapped on a Memory, as a filesystem numbers the inodes it
// creates), or 0 before that. Opens of the same file share it. Safe for
// concurrent use.
func (f *File) Ino() uint64 { return f.ino.number.Load() }

// NumberIno gives the file the inode number n unless it has one, and
// returns the number it has. Safe for concurrent use.
func (f *File) NumberIno(n uint64) uint64 {
	if f.ino.number.CompareAndSwap(0, n) {
		return n
	}
	return f.ino.number.Load()
}
