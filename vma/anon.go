package vma

// An AnonVMA is Linux's struct anon_vma: the identity the reverse map
// gives private anonymous pages. A page made by a fault in a VMA belongs
// to that VMA's anon_vma (folio->mapping); a VMA may map the pages of
// every anon_vma on its chain (vma->anon_vma_chain), which holds its own
// anon_vma and, after a fork, those of its ancestors, whose pages it
// shares copy-on-write. So an anonymous page mapped in a VMA whose chain
// lacks the page's anon_vma is a broken reverse map: rmap walks (reclaim,
// migration, KSM) would never find that mapping.
//
// An AnonVMA is immutable and safe for concurrent use.
type AnonVMA struct {
	id     uint64   // unique among the address spaces sharing its pages, > 0; immutable
	parent *AnonVMA // anon_vma->parent: what it was forked from, nil for a root; immutable
}

// AnonIDs hands out anon_vma identities. They must be unique among the
// address spaces that may share anonymous pages, those on one physical
// memory: a *pgtable.Frames numbers them. Safe for concurrent use.
type AnonIDs interface {
	NewAnonID() uint64
}

// NewAnonVMA returns a new anon_vma (mm/rmap.c: anon_vma_alloc) whose
// identity is id (from AnonIDs, never 0), forked from parent, or a root if
// parent is nil.
func NewAnonVMA(id uint64, parent *AnonVMA) *AnonVMA {
	return &AnonVMA{id: id, parent: parent}
}

// ID returns the anon_vma's identity, never 0. Immutable.
func (a *AnonVMA) ID() uint64 { return a.id }

// Parent returns the anon_vma a was forked from, nil for a root.
// Immutable.
func (a *AnonVMA) Parent() *AnonVMA { return a.parent }

// anonState is a VMA's anon_vma and anon_vma_chain. Immutable: a change
// stores a new one.
type anonState struct {
	anon  *AnonVMA
	chain []*AnonVMA // every anon_vma whose pages the VMA may map; anon is among them
}

// AnonVMA returns the identity of v's anon_vma: 0 until a fault first
// gave v private pages. VMAs with different non-zero identities do not
// merge (mm/vma.c: is_mergeable_anon_vma). Copy and Slice inherit it.
// Atomic; safe for concurrent use.
func (v *VMA) AnonVMA() uint64 {
	v.checkLive()
	if st := v.anon.Load(); st != nil {
		return st.anon.id
	}
	return 0
}

// Anon returns v's anon_vma, nil if it has none. Atomic; safe for
// concurrent use.
func (v *VMA) Anon() *AnonVMA {
	v.checkLive()
	if st := v.anon.Load(); st != nil {
		return st.anon
	}
	return nil
}

// AnonChainHas reports whether the anon_vma with identity id is on v's
// anon_vma_chain: whether an rmap walk from a page of that anon_vma
// finds v. Atomic; safe for concurrent use.
func (v *VMA) AnonChainHas(id uint64) bool {
	v.checkLive()
	if st := v.anon.Load(); st != nil {
		for _, a := range st.chain {
			if a.id == id {
				return true
			}
		}
	}
	return false
}

// ForkChild reports whether v has an anon_vma and more than one anon_vma
// on its chain: it was forked from a VMA whose pages it may still share
// (mm/vma.c: vma_is_fork_child(), "!list_is_singular(&vma->anon_vma_chain)").
// Such a VMA does not merge with one that has no anon_vma. Atomic; safe
// for concurrent use.
func (v *VMA) ForkChild() bool {
	v.checkLive()
	st := v.anon.Load()
	return st != nil && len(st.chain) > 1
}

// PrepareAnon gives v the anon_vma a, on a chain of its own, unless v has
// an anon_vma already, and returns the anon_vma v has now (mm/rmap.c:
// __anon_vma_prepare). It is the one change a fault makes to a published
// VMA. Atomic; safe for concurrent use.
func (v *VMA) PrepareAnon(a *AnonVMA) *AnonVMA {
	v.checkLive()
	if v.anon.CompareAndSwap(nil, &anonState{anon: a, chain: []*AnonVMA{a}}) {
		return a
	}
	return v.anon.Load().anon
}

// ReusableAnon returns v's anon_vma if a neighbour may share it when it
// prepares its own (mm/vma.c: reusable_anon_vma(): only if v's chain
// holds it alone, so that the neighbour's chain can too), or nil. Atomic;
// safe for concurrent use.
func (v *VMA) ReusableAnon() *AnonVMA {
	v.checkLive()
	if st := v.anon.Load(); st != nil && len(st.chain) == 1 {
		return st.anon
	}
	return nil
}

// CloneAnon gives v the anon_vma and chain of src (mm/rmap.c:
// anon_vma_clone, as a merge or a move does), or none if src is nil or
// has none.
//
// Preconditions: v is not yet inserted in a tree.
func (v *VMA) CloneAnon(src *VMA) {
	v.checkLive()
	if src == nil {
		v.anon.Store(nil)
		return
	}
	v.anon.Store(src.anon.Load())
}

// ForkAnon gives v, a child's copy of the parent VMA p, the anon_vma
// state of a fork (mm/rmap.c: anon_vma_fork()): none if p has none;
// otherwise p's chain (anon_vma_clone) plus a new anon_vma whose parent
// is p's, which the child's own new pages will belong to. (Linux may
// reuse an anon_vma of the chain that no VMA uses any more; vmsim always
// allocates.) It reads p's anon_vma once: a fault that gives p one after
// this call leaves v without it.
//
// The new anon_vma's identity comes from ids.
//
// Preconditions: v is not yet inserted in a tree.
func (v *VMA) ForkAnon(p *VMA, ids AnonIDs) {
	v.checkLive()
	st := p.anon.Load()
	if st == nil {
		v.anon.Store(nil)
		return
	}
	// One allocation for the common case of a first fork (a chain of
	// one grows to two): fork copies every VMA of the parent.
	n := &struct {
		st    anonState
		a     AnonVMA
		chain [2]*AnonVMA
	}{a: AnonVMA{id: ids.NewAnonID(), parent: st.anon}}
	chain := n.chain[:0]
	if len(st.chain) >= len(n.chain) {
		chain = make([]*AnonVMA, 0, len(st.chain)+1)
	}
	n.st = anonState{anon: &n.a, chain: append(append(chain, st.chain...), &n.a)}
	v.anon.Store(&n.st)
}
