package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// anonCompatible reports whether two VMAs' anon_vmas allow them to be
// one: either has none, or both have the same. Private memory gets an
// anon_vma on its first write fault; two VMAs that each have a different
// one cannot merge, because their pages' reverse mappings differ
// (mm/vma.c: are_anon_vmas_compatible()).
func anonCompatible(a, b *vma.VMA) bool {
	x, y := a.AnonVMA(), b.AnonVMA()
	return x == 0 || y == 0 || x == y
}

// anonMergeable mirrors mm/vma.c: is_mergeable_anon_vma() (Linux 6.16+):
// the neighbour tgt may merge with src, the range being mapped, changed
// or moved (which carries the anon_vma of the VMA it comes from), if
// their anon_vmas are compatible and the one that would be shared by
// both is not a fork child's (vma_is_fork_child(): its chain holds its
// parents' anon_vmas too, which the other VMA's pages would then be
// linked to).
func anonMergeable(tgt, src *vma.VMA) bool {
	t, s := tgt.AnonVMA(), src.AnonVMA()
	switch {
	case t == 0 && s != 0:
		return !src.ForkChild() // dup_anon_vma() from src into tgt
	case t != 0 && s == 0:
		return !tgt.ForkChild() // src takes tgt's
	}
	return t == s
}

// mergeable reports whether a, which ends where b starts, and b can be one
// VMA: same flags and protection, same backing at contiguous offsets, and
// mergeable anon_vmas (mm/vma.c: is_mergeable_vma, can_vma_merge_after).
// new is a or b, the range being mapped or changed; the other is its
// neighbour. A shared anonymous mapping is its own shmem object, so two
// of them never merge: their backings differ.
func mergeable(a, b, new *vma.VMA) bool {
	tgt := a
	if new == a {
		tgt = b
	}
	return a.End == b.Start &&
		a.Prot == b.Prot &&
		a.Flags == b.Flags &&
		a.Backing == b.Backing &&
		a.Pgoff+(a.End-a.Start)>>pgtable.PageShift == b.Pgoff &&
		anonMergeable(tgt, new)
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
		if p := c.tx.Find(nv.Start - 1); p != nil && mergeable(p, nv, nv) {
			prev = p
		}
	}
	if n := c.tx.Find(nv.End); n != nil && n.Start == nv.End && mergeable(nv, n, nv) {
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
	// The merged VMA takes the anon_vma (and chain) of whichever part
	// has one: they are compatible, so all that have one share it
	// (dup_anon_vma()).
	anon := nv
	if prev != nil {
		start, pgoff = prev.Start, prev.Pgoff
		if anon.AnonVMA() == 0 {
			anon = prev
		}
		c.removeLocked(prev)
	}
	if next != nil {
		end = next.End
		if anon.AnonVMA() == 0 {
			anon = next
		}
		c.removeLocked(next)
	}
	m := nv.Copy()
	m.Start, m.End, m.Pgoff = start, end, pgoff
	m.CloneAnon(anon)
	nv.Discard()
	c.insertLocked(m)
	return m
}
