package mmap

import (
	"slices"

	"github.com/vmsim/vmsim/fault"
)

// File is an in-memory file with a page cache, opened read-write or
// read-only; see fault.File. Its ReadAt and WriteAt are coherent with
// MAP_SHARED mappings of it.
type File = fault.File

// FileOptions configure a File; see fault.FileOptions.
type FileOptions = fault.FileOptions

// NewFile returns a file named name holding a copy of data, opened
// read-write. Use OpenReadOnly for a read-only open of the same file.
func NewFile(name string, data []byte, opt FileOptions) *File {
	return fault.NewFile(name, data, opt)
}

// watchFileLocked registers, once per file, the hook that makes a
// truncation of the file unmap the pages beyond its new end from this
// address space before the page cache drops them (mm/truncate.c:
// truncate_pagecache → unmap_mapping_range).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) watchFileLocked(f *File) {
	if as.watchesLocked(f) {
		return
	}
	cancel := f.OnTruncate(func(startPgoff, endPgoff uint64) { as.zapFile(f, startPgoff, endPgoff) })
	as.files = append(as.files, mappedFile{f, cancel})
	as.mem.watch(f)
}

// watchesLocked reports whether the truncate hook of f is registered.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) watchesLocked(f *File) bool {
	return slices.ContainsFunc(as.files, func(mf mappedFile) bool { return mf.f == f })
}

// A mappedFile is a file an address space has mapped, with the cancel of
// its truncate hook.
type mappedFile struct {
	f      *File
	cancel func()
}

// zapFile removes the PTEs mapping pages [startPgoff, endPgoff) of f from
// every VMA of f, shooting them down before returning. The file's size
// has already shrunk, so faults that race with it refuse to install.
func (as *AddressSpace) zapFile(f *File, startPgoff, endPgoff uint64) {
	as.mm.WriteLock()
	defer as.writeUnlock()
	if !as.watchesLocked(f) {
		return // Close has torn the address space down
	}
	c := as.beginLocked("truncate", as.sysTrack)
	for _, v := range as.mm.Tree.Snapshot().VMAs() {
		if v.Backing != f {
			continue
		}
		vEnd := v.Pgoff + (v.End-v.Start)/PageSize
		lo, hi := max(startPgoff, v.Pgoff), min(endPgoff, vEnd)
		if lo >= hi {
			continue
		}
		c.zapLocked(v.Start+(lo-v.Pgoff)*PageSize, v.Start+(hi-v.Pgoff)*PageSize)
	}
	c.flushLocked()
	c.abortLocked()
}
