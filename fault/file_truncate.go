package fault

import (
	"slices"

	"github.com/vmsim/vmsim/pgtable"
)

// Truncate sets the file's size, as ftruncate(2). Growing adds zeros.
// Shrinking drops the pages wholly beyond the new end, in Linux's order
// (mm/truncate.c: truncate_setsize, truncate_pagecache):
//
//  1. publish the new size, so that new faults and MapPages refuse the
//     dropped pages (and the handler, which re-checks Pages under the
//     page-table lock, installs none of them);
//  2. call every OnTruncate callback with the dropped page range, each of
//     which zaps that range from one address space's mappings and returns
//     once no PTE or TLB entry maps it (unmap_mapping_range);
//  3. remove the dropped pages from the page cache and drop its
//     references (truncate_inode_pages), and zero the tail of a page the
//     new end cuts in two, in its frame, so that mappings read zeros
//     beyond the end (truncate_inode_partial_folio).
//
// So no PTE maps a page beyond the end once Truncate returns. It returns
// ErrInvalid for a negative size or a read-only open (as ftruncate's
// EINVAL) and ErrTooLarge beyond MaxFileSize. Truncate may block for as
// long as the callbacks do; it holds no lock a fault needs meanwhile.
func (f *File) Truncate(size int64) error {
	if size < 0 || !f.writable {
		return ErrInvalid
	}
	if size > MaxFileSize {
		return ErrTooLarge
	}
	in := f.ino
	in.truncMu.Lock()
	defer in.truncMu.Unlock()

	in.mu.Lock()
	old := in.size.Load()
	if size >= old {
		if size > old {
			in.growLocked(size)
		}
		in.mu.Unlock()
		return nil
	}
	in.size.Store(size) // (1)
	in.trimDiskLocked(size)
	in.mu.Unlock()

	start, end := pagesOf(size), pagesOf(old)
	if start < end {
		for _, fn := range in.truncateCallbacks() { // (2)
			fn(start, end)
		}
	}

	in.mu.Lock() // (3)
	if pc := in.cache.Load(); pc != nil {
		in.dropPagesLocked(pc, start, false)
	}
	in.zeroTailLocked(size)
	in.mu.Unlock()
	return nil
}

// trimDiskLocked removes from the disk every byte at or beyond size.
//
// Preconditions: in.mu is held.
func (in *inode) trimDiskLocked(size int64) {
	first := pagesOf(size)
	for idx := range in.disk {
		if idx >= first {
			delete(in.disk, idx)
		}
	}
	if po := int(size % pgtable.PageSize); po != 0 {
		if pg := in.disk[uint64(size/pgtable.PageSize)]; pg != nil {
			clear(pg[po:])
		}
	}
}

// OnTruncate registers fn to be called by Truncate, between publishing a
// smaller size and dropping the pages beyond it, with the range of page
// offsets [startPgoff, endPgoff) being dropped. Package mmap registers one
// callback per address space that maps the file; fn must zap every PTE of
// the file's VMAs in that range, shoot down the TLBs and wait for accesses
// in flight before it returns. fn runs on the truncating goroutine, with
// the file's size lock held: it must not call Truncate or WriteAt on the
// file (faults, ReadAt and MapPages are fine). Callbacks registered on any
// open of the file apply to all of them. cancel unregisters fn; calling it
// more than once is harmless. Safe for concurrent use.
func (f *File) OnTruncate(fn func(startPgoff, endPgoff uint64)) (cancel func()) {
	in := f.ino
	in.cbMu.Lock()
	id := in.nextCB
	in.nextCB++
	in.callbacks[id] = fn
	in.cbMu.Unlock()
	return func() {
		in.cbMu.Lock()
		delete(in.callbacks, id)
		in.cbMu.Unlock()
	}
}

// truncateCallbacks returns a snapshot of the OnTruncate callbacks, in
// registration order, so they run with no lock held.
func (in *inode) truncateCallbacks() []func(uint64, uint64) {
	in.cbMu.Lock()
	defer in.cbMu.Unlock()
	ids := make([]uint64, 0, len(in.callbacks))
	for id := range in.callbacks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(uint64, uint64), len(ids))
	for i, id := range ids {
		fns[i] = in.callbacks[id]
	}
	return fns
}

// DropCache writes every cached page back to the file's disk and drops
// the page cache's reference on its frame, then unbinds the cache from
// its frame pool, so that a later fault from any pool may bind it again.
// Package mmap calls it (or ReleaseFrames) when the address space whose
// frames hold the cache closes, so every frame returns to the pool.
//
// DropCache does not unmap: a frame still mapped by a PTE stays alive
// (the PTE holds its own reference) but is no longer the file's page, so
// stores through that mapping would no longer reach the file. Call it
// when nothing maps the file's pages any more, or after zapping them.
// Safe for concurrent use; it never blocks on I/O.
func (f *File) DropCache() {
	in := f.ino
	in.mu.Lock()
	defer in.mu.Unlock()
	if pc := in.cache.Load(); pc != nil {
		in.releaseLocked(pc)
	}
}

// ReleaseFrames is DropCache restricted to one pool: it drops the page
// cache only if it is bound to frames, and reports whether it was. The
// same precondition as DropCache applies.
func (f *File) ReleaseFrames(frames *pgtable.Frames) bool {
	in := f.ino
	in.mu.Lock()
	defer in.mu.Unlock()
	pc := in.cache.Load()
	if pc == nil || pc.frames != frames {
		return false
	}
	in.releaseLocked(pc)
	return true
}

// releaseLocked writes back and drops every page of pc, then unbinds it.
// A fault still holding pc sees it unbound when it tries to insert, and
// gives its frame back.
//
// Preconditions: in.mu is held; pc is in.cache.
func (in *inode) releaseLocked(pc *pageCache) {
	in.dropPagesLocked(pc, 0, true)
	in.cache.Store(nil)
}

// dropPagesLocked removes every page at index >= from from pc and puts
// the cache's reference on its frame, writing it back to the disk first
// if writeback is set (only the bytes below the size: the disk holds
// nothing beyond the end). Compare mm/truncate.c: truncate_inode_pages_range
// and, for writeback, mm/page-writeback.c: write_cache_pages.
//
// Preconditions: in.mu is held; pc is in.cache.
func (in *inode) dropPagesLocked(pc *pageCache, from uint64, writeback bool) {
	size := in.size.Load()
	var buf [pgtable.PageSize]byte
	pc.pages.RangeLocked(from, func(idx uint64, pfn pgtable.PFN) {
		if writeback {
			in.writebackLocked(pc, idx, pfn, size, &buf)
		}
		pc.pages.StoreLocked(idx, 0)
		in.cached.Add(-1)
		pc.frames.Put(pfn)
	})
}

// writebackLocked copies the bytes of cached page idx (frame pfn) that lie
// below size onto the disk (the whole last page of a tmpfs file, which
// keeps what lies beyond the end: see growLocked), dropping the disk page
// if they are all zero.
//
// Preconditions: in.mu is held.
func (in *inode) writebackLocked(pc *pageCache, idx uint64, pfn pgtable.PFN, size int64, buf *[pgtable.PageSize]byte) {
	start := int64(idx) * pgtable.PageSize
	if start >= size {
		delete(in.disk, idx)
		return
	}
	pc.frames.ReadAt(pfn, buf[:], 0)
	if n := size - start; n < pgtable.PageSize && !in.tmpfs {
		clear(buf[n:])
	}
	if isZero(buf[:]) {
		delete(in.disk, idx)
		return
	}
	pg := in.disk[idx]
	if pg == nil {
		pg = new([pgtable.PageSize]byte)
		in.disk[idx] = pg
	}
	*pg = *buf
}
