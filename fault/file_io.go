package fault

import (
	"io"

	"github.com/vmsim/vmsim/pgtable"
)

// zeroPage is a page of zeros to copy from. Never written.
var zeroPage [pgtable.PageSize]byte

// ReadAt reads len(p) bytes at off, as pread(2) and io.ReaderAt: it
// returns io.EOF with the bytes before the end when the read crosses the
// end of the file. A cached page is read from its frame, word by word
// atomically (pgtable.Frames.ReadAt), so the result is coherent with
// MAP_SHARED mappings: a store through a mapping that completed before
// ReadAt started is seen. A negative off returns ErrInvalid. ReadAt does
// not fill the page cache.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrInvalid
	}
	in := f.ino
	in.sched.Load().Point("file.read")
	in.mu.Lock()
	defer in.mu.Unlock()
	size := in.size.Load()
	n := 0
	if off < size {
		n = int(min(int64(len(p)), size-off))
	}
	pc := in.cache.Load()
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, po := uint64(pos/pgtable.PageSize), int(pos%pgtable.PageSize)
		k := min(pgtable.PageSize-po, n-done)
		in.readPageLocked(pc, idx, p[done:done+k], po)
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readPageLocked copies bytes [po, po+len(b)) of page idx into b, from
// the page cache if the page is cached there, else from the disk.
//
// Preconditions: in.mu is held (so a cached frame cannot be dropped).
func (in *inode) readPageLocked(pc *pageCache, idx uint64, b []byte, po int) {
	if pc != nil {
		if pfn := pc.pages.Load(idx); pfn != 0 {
			pc.frames.ReadAt(pfn, b, po)
			return
		}
	}
	if pg := in.disk[idx]; pg != nil {
		copy(b, pg[po:])
	} else {
		clear(b)
	}
}

// WriteAt writes p at off, as pwrite(2) and io.WriterAt, extending the
// file if it ends beyond the end (a hole between the old end and off
// reads as zeros). A cached page is written in its frame, so MAP_SHARED
// mappings see the bytes at once. It returns ErrNotWritable on a
// read-only open, ErrInvalid for a negative off, and ErrTooLarge (writing
// nothing) if the file would grow beyond MaxFileSize.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if !f.writable {
		return 0, ErrNotWritable
	}
	if off < 0 {
		return 0, ErrInvalid
	}
	if off > MaxFileSize || int64(len(p)) > MaxFileSize-off {
		return 0, ErrTooLarge
	}
	if len(p) == 0 {
		return 0, nil
	}
	in := f.ino
	in.truncMu.Lock()
	defer in.truncMu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	if end := off + int64(len(p)); end > in.size.Load() {
		in.growLocked(end)
	}
	pc := in.cache.Load()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, po := uint64(pos/pgtable.PageSize), int(pos%pgtable.PageSize)
		k := min(pgtable.PageSize-po, len(p)-done)
		in.writePageLocked(pc, idx, p[done:done+k], po)
		done += k
	}
	return len(p), nil
}

// writePageLocked copies b into bytes [po, po+len(b)) of page idx: into
// its frame if cached, else onto the disk.
//
// Preconditions: in.mu is held; [po, po+len(b)) lies below the size.
func (in *inode) writePageLocked(pc *pageCache, idx uint64, b []byte, po int) {
	if pc != nil {
		if pfn := pc.pages.Load(idx); pfn != 0 {
			pc.frames.WriteAt(pfn, b, po)
			return
		}
	}
	pg := in.disk[idx]
	if pg == nil {
		if isZero(b) {
			return // keep holes sparse
		}
		pg = new([pgtable.PageSize]byte)
		in.disk[idx] = pg
	}
	copy(pg[po:], b)
}

// growLocked raises the size to size. Bytes between the old end and the
// end of its page may hold what a shared mapping stored beyond the end of
// the file. On a disk file system they read as zeros once inside it, so
// they are zeroed in the cached frame (the disk of such a file holds no
// bytes beyond the end); compare mm/truncate.c: pagecache_isize_extended.
// tmpfs keeps them: shmem's page is the file's only copy, and neither
// shmem_setattr nor shmem_write_begin zeroes it when the file grows.
//
// Preconditions: in.truncMu and in.mu are held; size > in.size.
func (in *inode) growLocked(size int64) {
	if !in.tmpfs {
		in.zeroTailLocked(in.size.Load())
	}
	in.size.Store(size)
}

// zeroTailLocked zeroes, in the cached frame, the bytes of the page
// holding offset end that lie at or after end (nothing if end is
// page-aligned or the page is not cached).
//
// Preconditions: in.mu is held.
func (in *inode) zeroTailLocked(end int64) {
	po := int(end % pgtable.PageSize)
	if po == 0 {
		return
	}
	pc := in.cache.Load()
	if pc == nil {
		return
	}
	if pfn := pc.pages.Load(uint64(end / pgtable.PageSize)); pfn != 0 {
		pc.frames.WriteAt(pfn, zeroPage[po:], po)
	}
}
