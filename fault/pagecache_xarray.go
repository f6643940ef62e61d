package fault

import (
	"sync/atomic"

	"github.com/vmsim/vmsim/pgtable"
)

// The page cache indexes frames by page offset in a small radix tree in
// the manner of Linux's xarray (lib/xarray.c): 64 slots per node, readers
// walk it with atomic loads and no lock (Linux: under rcu_read_lock), and
// writers, serialized by the owner's mutex, publish each change with one
// atomic store. That is what lets MapPages run under RCU without ever
// blocking: it never waits for a writer, and a writer never waits for it.
//
// Nodes are never freed while reachable: an emptied slot is set to zero
// and an emptied node stays in place (Go's garbage collector would make a
// freed node safe anyway, as RCU does in Linux). The tree only grows in
// height, by putting the old root under slot 0 of a new root.

const (
	xaShift = 6
	xaSlots = 1 << xaShift
	xaMask  = xaSlots - 1
)

// xaNode is one node of an xarray. shift is the number of index bits
// below this node's slots: 0 for a leaf, whose pfn slots hold frames, a
// multiple of xaShift for an interior node, whose child slots hold nodes.
type xaNode struct {
	shift uint                            // immutable
	child [xaSlots]atomic.Pointer[xaNode] // interior nodes only; atomic
	pfn   [xaSlots]atomic.Uint32          // leaves only; 0 = empty (ZeroPFN is never cached); atomic
}

// xarray maps page offsets to frames. Load is lock-free and safe for
// concurrent use with anything; the other methods are writers.
//
// Preconditions for every writer (the methods whose names end in Locked):
// the caller serializes them (the inode's mu).
type xarray struct {
	root atomic.Pointer[xaNode] // nil when never written; atomic
}

// Load returns the frame at index i, or ZeroPFN (0) if none. It never
// blocks. Compare lib/xarray.c: xa_load.
func (x *xarray) Load(i uint64) pgtable.PFN {
	n := x.root.Load()
	if n == nil || i>>(n.shift+xaShift) != 0 {
		return 0
	}
	for n.shift > 0 {
		n = n.child[(i>>n.shift)&xaMask].Load()
		if n == nil {
			return 0
		}
	}
	return pgtable.PFN(n.pfn[i&xaMask].Load())
}

// StoreLocked sets the frame at index i (0 erases it). Readers see either
// the old or the new value. Compare lib/xarray.c: xa_store.
//
// Preconditions: the caller serializes writers.
func (x *xarray) StoreLocked(i uint64, p pgtable.PFN) {
	n := x.root.Load()
	if n == nil {
		if p == 0 {
			return
		}
		n = &xaNode{}
		x.root.Store(n)
	}
	for i>>(n.shift+xaShift) != 0 {
		if p == 0 {
			return // erasing an index the tree cannot hold
		}
		// Grow: the old root becomes slot 0 of a taller root. Readers
		// holding the old root still see a correct tree for the indices
		// it covers.
		r := &xaNode{shift: n.shift + xaShift}
		r.child[0].Store(n)
		x.root.Store(r)
		n = r
	}
	for n.shift > 0 {
		slot := &n.child[(i>>n.shift)&xaMask]
		c := slot.Load()
		if c == nil {
			if p == 0 {
				return
			}
			c = &xaNode{shift: n.shift - xaShift}
			slot.Store(c)
		}
		n = c
	}
	n.pfn[i&xaMask].Store(uint32(p))
}

// RangeLocked calls fn for every index >= from holding a frame, in
// increasing order. fn may call StoreLocked (to erase the entry it is
// given, say).
//
// Preconditions: the caller serializes writers.
func (x *xarray) RangeLocked(from uint64, fn func(i uint64, p pgtable.PFN)) {
	if n := x.root.Load(); n != nil {
		xaRange(n, 0, from, fn)
	}
}

// xaRange walks the subtree n whose first index is base.
func xaRange(n *xaNode, base, from uint64, fn func(i uint64, p pgtable.PFN)) {
	span := uint64(1) << n.shift // indices per slot
	for s := range uint64(xaSlots) {
		lo := base + s*span
		if lo+span <= from {
			continue
		}
		if n.shift == 0 {
			if p := pgtable.PFN(n.pfn[s].Load()); p != 0 {
				fn(lo, p)
			}
			continue
		}
		if c := n.child[s].Load(); c != nil {
			xaRange(c, lo, from, fn)
		}
	}
}
