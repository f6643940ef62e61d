package vma

// AnonVMA returns the identity of v's anon_vma: 0 until a fault first gave
// v private pages. VMAs with different non-zero identities do not merge
// (mm/vma.c: is_mergeable_anon_vma). Copy and Slice inherit it. Atomic;
// safe for concurrent use.
func (v *VMA) AnonVMA() uint64 {
	v.checkLive()
	return v.anon.Load()
}

// PrepareAnon gives v the anon_vma identity id unless it has one already,
// and returns the identity v has now (mm/rmap.c: __anon_vma_prepare). It
// is the one change a fault makes to a published VMA. Atomic; safe for
// concurrent use.
func (v *VMA) PrepareAnon(id uint64) uint64 {
	v.checkLive()
	if v.anon.CompareAndSwap(0, id) {
		return id
	}
	return v.anon.Load()
}

// SetAnonVMA sets the anon_vma identity of an unpublished VMA, as a merge
// does when the merged VMA inherits one of its parts'.
//
// Preconditions: v is not yet inserted in a tree.
func (v *VMA) SetAnonVMA(id uint64) {
	v.checkLive()
	v.anon.Store(id)
}
