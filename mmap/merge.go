package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// anonCompatible mirrors mm/vma.c: is_mergeable_anon_vma. Private memory
// gets an anon_vma on its first write fault; two VMAs that each have a
// different one cannot merge, because their pages' reverse mappings
// differ.
func anonCompatible(a, b *vma.VMA) bool {
	x, y := a.AnonVMA(), b.AnonVMA()
	return x == 0 || y == 0 || x == y
}

// mergeable reports whether a, which ends where b starts, and b can be one
// VMA: same flags and protection, same backing at contiguous offsets, and
// compatible anon_vmas (mm/vma.c: is_mergeable_vma, can_vma_merge_after).
// A shared anonymous mapping is its own shmem object, so two of them never
// merge: their backings differ.
func mergeable(a, b *vma.VMA) bool {
	return a.End == b.Start &&
		a.Prot == b.Prot &&
		a.Flags == b.Flags &&
		a.Backing == b.Backing &&
		a.Pgoff+(a.End-a.Start)>>pgtable.PageShift == b.Pgoff &&
		anonCompatible(a, b)
}

// insertMergedLocked inserts nv, which covers a free range of the
// transaction, merging it with the VMA that ends at nv.Start and the one
// that starts at nv.End when they are mergeable (mm/vma.c:
// vma_merge_new_range, and vma_merge_existing_range for mprotect and
// madvise, which come here with the changed range already carved out).
// The neighbours are replaced by a new VMA covering all three; their PTEs
// stay, now belonging to it. It returns the VMA that covers nv's range.
func (c *change) insertMergedLocked(nv *vma.VMA) *vma.VMA {
	var prev, next *vma.VMA
	if nv.Start > 0 {
		if p := c.tx.Find(nv.Start - 1); p != nil && mergeable(p, nv) {
			prev = p
		}
	}
	if n := c.tx.Find(nv.End); n != nil && n.Start == nv.End && mergeable(nv, n) {
		next = n
	}
	// can_vma_merge_right: a three-way merge also needs prev and next to
	// be compatible with each other; otherwise merge left only.
	if prev != nil && next != nil && !anonCompatible(prev, next) {
		next = nil
	}
	if prev == nil && next == nil {
		c.insertLocked(nv)
		return nv
	}
	start, end, pgoff := nv.Start, nv.End, nv.Pgoff
	anon := nv.AnonVMA()
	if prev != nil {
		start, pgoff = prev.Start, prev.Pgoff
		anon = max(anon, prev.AnonVMA())
		c.removeLocked(prev)
	}
	if next != nil {
		end = next.End
		anon = max(anon, next.AnonVMA())
		c.removeLocked(next)
	}
	m := nv.Copy()
	m.Start, m.End, m.Pgoff = start, end, pgoff
	m.SetAnonVMA(anon)
	nv.Discard()
	c.insertLocked(m)
	return m
}
