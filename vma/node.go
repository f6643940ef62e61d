package vma

import (
	"fmt"
	"sync"
)

// The VMA tree's nodes: a persistent B+tree keyed by VMA start, built for
// the one thing this package does with it, which is to publish a slightly
// edited tree after every syscall (Linux's maple tree in RCU mode does the
// same: every write builds new nodes along its path and frees the old
// ones after a grace period).
//
// Every VMA lives in a leaf; an inner node holds, for each child, the
// smallest start in that child's subtree, so a lookup picks a child by
// comparing plain integers and loads no VMA until the leaf. A node is
// never changed once a snapshot can reach it: the writer copies a node the
// first time it changes it after a publish (its generation is older than
// the tree's), and changes its own copy in place until the next publish.
// So one syscall that removes one VMA and inserts another copies each node
// on the path once, however many edits it makes there.

// nodeMax is the number of entries a node holds. A node is 408 bytes, so
// a syscall's path copy at 65,530 VMAs (five levels) is about 2 KiB.
const nodeMax = 16

// nodeMin is the fill below which a child is refilled from a sibling. It
// is well below nodeMax/2 and a merge happens only into a node with room
// to spare (mergeMax), so that an insert and a delete of the same key, a
// syscall and its inverse, cannot alternate between a split and a merge.
const (
	nodeMin  = nodeMax / 4
	mergeMax = nodeMax * 3 / 4
)

// node is one B+tree node. Fields are written only by the writer (under
// the writer lock), and only while gen equals the tree's current
// generation, which means no published snapshot reaches the node; after
// that the node is immutable and read by any goroutine.
type node struct {
	keys [nodeMax]uint64 // leaf: each VMA's Start; inner: the smallest Start below each child
	n    int             // entries in use
	leaf bool
	gen  uint64         // the writer generation that made this copy
	vmas [nodeMax]*VMA  // leaf only
	kids [nodeMax]*node // inner only
}

// floorIdx returns the index of the last key <= k, or -1.
func (n *node) floorIdx(k uint64) int {
	i := 0
	for i < n.n && n.keys[i] <= k {
		i++
	}
	return i - 1
}

// ceilIdx returns the index of the first key >= k, or n.n.
func (n *node) ceilIdx(k uint64) int {
	i := 0
	for i < n.n && n.keys[i] < k {
		i++
	}
	return i
}

// floor returns the VMA with the greatest Start <= k in n's subtree, or
// nil. Inner keys are exact subtree minimums, so the child it descends
// into always holds the answer.
func (n *node) floor(k uint64) *VMA {
	for {
		i := n.floorIdx(k)
		if i < 0 {
			return nil
		}
		if n.leaf {
			return n.vmas[i]
		}
		n = n.kids[i]
	}
}

// ceil returns the VMA with the least Start >= k in n's subtree, or nil.
func (n *node) ceil(k uint64) *VMA {
	if n.leaf {
		if i := n.ceilIdx(k); i < n.n {
			return n.vmas[i]
		}
		return nil
	}
	i := max(n.floorIdx(k), 0)
	if v := n.kids[i].ceil(k); v != nil {
		return v
	}
	if i+1 < n.n {
		return n.kids[i+1].first()
	}
	return nil
}

// first returns the VMA with the least Start in n's subtree, or nil.
func (n *node) first() *VMA {
	for !n.leaf {
		n = n.kids[0]
	}
	if n.n == 0 {
		return nil
	}
	return n.vmas[0]
}

// ascend calls fn for each VMA whose Start is in [lo, hi), in order,
// until fn returns false; it returns false if fn did.
func (n *node) ascend(lo, hi uint64, fn func(*VMA) bool) bool {
	if n.leaf {
		for i := n.ceilIdx(lo); i < n.n && n.keys[i] < hi; i++ {
			if !fn(n.vmas[i]) {
				return false
			}
		}
		return true
	}
	for i := max(n.floorIdx(lo), 0); i < n.n && n.keys[i] < hi; i++ {
		if !n.kids[i].ascend(lo, hi, fn) {
			return false
		}
	}
	return true
}

// appendAll appends every VMA of n's subtree to out, in order.
func (n *node) appendAll(out []*VMA) []*VMA {
	if n.leaf {
		return append(out, n.vmas[:n.n]...)
	}
	for _, k := range n.kids[:n.n] {
		out = k.appendAll(out)
	}
	return out
}

// insertAt shifts entries i.. up by one and puts (k, v, kid) at i.
// Preconditions: n is writable and not full.
func (n *node) insertAt(i int, k uint64, v *VMA, kid *node) {
	copy(n.keys[i+1:n.n+1], n.keys[i:n.n])
	n.keys[i] = k
	if n.leaf {
		copy(n.vmas[i+1:n.n+1], n.vmas[i:n.n])
		n.vmas[i] = v
	} else {
		copy(n.kids[i+1:n.n+1], n.kids[i:n.n])
		n.kids[i] = kid
	}
	n.n++
}

// removeAt removes entry i, clearing the slot it frees so that the node
// keeps no pointer to what it no longer holds. Preconditions: n is
// writable.
func (n *node) removeAt(i int) {
	copy(n.keys[i:], n.keys[i+1:n.n])
	if n.leaf {
		copy(n.vmas[i:], n.vmas[i+1:n.n])
		n.vmas[n.n-1] = nil
	} else {
		copy(n.kids[i:], n.kids[i+1:n.n])
		n.kids[n.n-1] = nil
	}
	n.n--
}

// giveTail moves n's last m entries to the front of dst.
// Preconditions: both writable, same kind, and dst has room.
func (n *node) giveTail(m int, dst *node) {
	i := n.n - m
	copy(dst.keys[m:dst.n+m], dst.keys[:dst.n])
	copy(dst.keys[:m], n.keys[i:n.n])
	if n.leaf {
		copy(dst.vmas[m:dst.n+m], dst.vmas[:dst.n])
		copy(dst.vmas[:m], n.vmas[i:n.n])
		clear(n.vmas[i:n.n])
	} else {
		copy(dst.kids[m:dst.n+m], dst.kids[:dst.n])
		copy(dst.kids[:m], n.kids[i:n.n])
		clear(n.kids[i:n.n])
	}
	dst.n += m
	n.n = i
}

// giveHead moves n's first m entries to the end of dst.
// Preconditions: both writable, same kind, and dst has room.
func (n *node) giveHead(m int, dst *node) {
	rest := n.n - m
	copy(dst.keys[dst.n:], n.keys[:m])
	copy(n.keys[:], n.keys[m:n.n])
	if n.leaf {
		copy(dst.vmas[dst.n:], n.vmas[:m])
		copy(n.vmas[:], n.vmas[m:n.n])
		clear(n.vmas[rest:n.n])
	} else {
		copy(dst.kids[dst.n:], n.kids[:m])
		copy(n.kids[:], n.kids[m:n.n])
		clear(n.kids[rest:n.n])
	}
	dst.n += m
	n.n = rest
}

// writer is the writer's side of the node tree: the generation whose
// nodes it may change in place, and, when recycling is on, the nodes
// replaced by its copies on their way back to it. Protected by the writer
// lock, except ready.
type writer struct {
	gen uint64

	// reclaim, if set, runs a function once every reader that could
	// hold an older snapshot is gone (an *rcu.Domain); nil turns
	// recycling off and leaves replaced nodes to the garbage collector.
	reclaim Reclaimer
	retired []*node   // nodes copied since the last publish: gone from the next snapshot
	pending []*node   // retired by earlier publishes, handed to reclaim in batches
	free    []*node   // a reclaimed batch: nodes no reader can reach, reused by alloc
	empty   [][]*node // emptied batch slices, for pending to reuse (making a new one per batch measured 180 → 360 B and +8% per mmap+munmap)
	ready   struct {
		mu      sync.Mutex
		batches [][]*node // reclaimed batches; protected by mu
		nodes   int       // nodes in batches; protected by mu
	}
}

// reclaimBatch is how many replaced nodes are handed to reclaim at once,
// so that recycling costs one reclaim call per reclaimBatch nodes.
const reclaimBatch = 128

// maxReady bounds the reclaimed nodes kept for reuse. The nodes between a
// publish and their reuse are those one grace period (and the callback
// batching before it) replaces, a few thousand at a syscall per
// microsecond and a few nodes per syscall; beyond the bound, after an
// address space has shrunk, nodes go to the garbage collector.
const maxReady = 16384

// alloc returns a node to overwrite: a recycled one if any is free, with
// its old contents still in it (see become), or a new one.
func (w *writer) alloc() *node {
	if len(w.free) == 0 && w.reclaim != nil {
		w.ready.mu.Lock()
		if k := len(w.ready.batches); k > 0 {
			if cap(w.free) > 0 {
				w.empty = append(w.empty, w.free)
			}
			w.free = w.ready.batches[k-1]
			w.ready.batches[k-1] = nil
			w.ready.batches = w.ready.batches[:k-1]
			w.ready.nodes -= len(w.free)
		}
		w.ready.mu.Unlock()
	}
	if k := len(w.free); k > 0 {
		n := w.free[k-1]
		w.free[k-1] = nil
		w.free = w.free[:k-1]
		return n
	}
	return new(node)
}

// become makes c, fresh from alloc, a node of this generation holding
// src's entries (or, with src nil, an empty node of the given kind). It
// writes only the entries in use and clears only c's stale pointers: on
// reuse, a node is overwritten by the writer rather than cleared when
// reclaimed, so that its cache lines do not bounce to the goroutine that
// runs reclaim; and while the garbage collector marks, every pointer
// written takes a write barrier.
func (c *node) become(src *node, leaf bool, gen uint64) {
	old, oldLeaf := c.n, c.leaf
	c.n, c.leaf, c.gen = 0, leaf, gen
	if src != nil {
		c.keys, c.n = src.keys, src.n
		if leaf {
			copy(c.vmas[:src.n], src.vmas[:src.n])
		} else {
			copy(c.kids[:src.n], src.kids[:src.n])
		}
	}
	// Slots at or past n hold nil (removeAt and the give functions
	// clear what they vacate), so only [c.n, old) of the old kind's
	// array can hold stale pointers.
	switch {
	case oldLeaf != leaf && oldLeaf:
		clear(c.vmas[:old])
	case oldLeaf != leaf:
		clear(c.kids[:old])
	case old > c.n && leaf:
		clear(c.vmas[c.n:old])
	case old > c.n:
		clear(c.kids[c.n:old])
	}
}

// mutable returns n itself if this generation made it, else a copy of it
// that this generation owns (and, when recycling, retires n).
func (w *writer) mutable(n *node) *node {
	if n.gen == w.gen {
		return n
	}
	c := w.alloc()
	c.become(n, n.leaf, w.gen)
	if w.reclaim != nil {
		w.retired = append(w.retired, n)
	}
	return c
}

// newNode returns an empty node of this generation.
func (w *writer) newNode(leaf bool) *node {
	c := w.alloc()
	c.become(nil, leaf, w.gen)
	return c
}

// seal makes every node reachable so far immutable: it is called at each
// publish, after which the writer must copy a node before changing it.
// The nodes retired since the last publish are out of the snapshot being
// published; once reclaim says no reader can still be in an older one,
// they are free.
func (w *writer) seal() {
	w.gen++
	if w.reclaim == nil {
		return
	}
	w.pending = append(w.pending, w.retired...)
	clear(w.retired)
	w.retired = w.retired[:0]
	if len(w.pending) < reclaimBatch {
		return
	}
	batch := w.pending
	if k := len(w.empty); k > 0 {
		w.pending = w.empty[k-1]
		w.empty[k-1] = nil
		w.empty = w.empty[:k-1]
	} else {
		w.pending = make([]*node, 0, reclaimBatch)
	}
	w.reclaim.Call(func() {
		// No reader can reach these nodes now; the writer overwrites
		// them when it reuses them (become).
		w.ready.mu.Lock()
		if w.ready.nodes < maxReady {
			w.ready.batches = append(w.ready.batches, batch)
			w.ready.nodes += len(batch)
		}
		w.ready.mu.Unlock()
	})
}

// forget drops the nodes retired since the last publish, at an Abort:
// the tree goes back to the published one, which still holds them.
func (w *writer) forget() {
	clear(w.retired)
	w.retired = w.retired[:0]
}

// insert adds (k, v) below n, which must not hold k, and returns n's
// writable copy and, if it had to split, the new right sibling.
func (w *writer) insert(n *node, k uint64, v *VMA) (*node, *node) {
	n = w.mutable(n)
	if n.leaf {
		return w.insertEntry(n, n.ceilIdx(k), k, v, nil)
	}
	i := max(n.floorIdx(k), 0)
	kid, right := w.insert(n.kids[i], k, v)
	n.kids[i], n.keys[i] = kid, kid.keys[0]
	if right == nil {
		return n, nil
	}
	return w.insertEntry(n, i+1, right.keys[0], nil, right)
}

// insertEntry puts an entry at index i of the writable node n, splitting
// n in two halves first if it is full; it returns n and the new right
// half, if any.
func (w *writer) insertEntry(n *node, i int, k uint64, v *VMA, kid *node) (*node, *node) {
	if n.n < nodeMax {
		n.insertAt(i, k, v, kid)
		return n, nil
	}
	r := w.newNode(n.leaf)
	n.giveTail(n.n-nodeMax/2, r)
	if i <= n.n {
		n.insertAt(i, k, v, kid)
	} else {
		r.insertAt(i-n.n, k, v, kid)
	}
	return n, r
}

// remove deletes key k from n's subtree, if it holds k and (unless want
// is nil) its VMA is want; it returns n's writable copy and the VMA it
// removed, or n itself and nil, having copied nothing, if it removed
// nothing. Nodes are copied on the way back up, once the leaf has the key.
func (w *writer) remove(n *node, k uint64, want *VMA) (*node, *VMA) {
	i := n.floorIdx(k)
	if i < 0 {
		return n, nil
	}
	if n.leaf {
		if n.keys[i] != k || want != nil && n.vmas[i] != want {
			return n, nil
		}
		n = w.mutable(n)
		v := n.vmas[i]
		n.removeAt(i)
		return n, v
	}
	kid, v := w.remove(n.kids[i], k, want)
	if v == nil {
		return n, nil
	}
	n = w.mutable(n)
	n.kids[i] = kid
	if kid.n > 0 {
		n.keys[i] = kid.keys[0]
	}
	if kid.n < nodeMin && n.n > 1 {
		w.refill(n, i)
	}
	return n, v
}

// refill fixes the underfull child i of the writable node n by merging it
// with a neighbour, when the two fit in mergeMax entries, or else by
// sharing the neighbours' entries evenly between them.
func (w *writer) refill(n *node, i int) {
	a := i
	if a+1 == n.n {
		a--
	}
	l, r := w.mutable(n.kids[a]), w.mutable(n.kids[a+1])
	n.kids[a], n.kids[a+1] = l, r
	switch total := l.n + r.n; {
	case total <= mergeMax:
		r.giveHead(r.n, l)
		n.removeAt(a + 1)
	case l.n < total/2:
		r.giveHead(total/2-l.n, l)
		n.keys[a+1] = r.keys[0]
	default:
		l.giveTail(l.n-total/2, r)
		n.keys[a+1] = r.keys[0]
	}
	if l.n > 0 {
		n.keys[a] = l.keys[0]
	}
}

// insertRoot inserts (k, v) into the tree rooted at root and returns the
// new root.
func (w *writer) insertRoot(root *node, k uint64, v *VMA) *node {
	n, right := w.insert(root, k, v)
	if right == nil {
		return n
	}
	top := w.newNode(false)
	top.insertAt(0, n.keys[0], nil, n)
	top.insertAt(1, right.keys[0], nil, right)
	return top
}

// removeRoot is remove from the root: it returns the new root and the VMA
// removed (nil, and root unchanged, if none). An inner root left with one
// child gives way to that child, so the tree gets lower as it empties.
func (w *writer) removeRoot(root *node, k uint64, want *VMA) (*node, *VMA) {
	n, v := w.remove(root, k, want)
	for !n.leaf && n.n == 1 {
		n = n.kids[0]
	}
	return n, v
}

// check verifies the B+tree invariants of the subtree n: keys strictly
// increasing, each inner key the smallest key below its child, every leaf
// at the same depth, and no node but the root below nodeMin entries (or
// empty) or above nodeMax. It returns the subtree's height.
func (n *node) check(root bool) (int, error) {
	if n.n < 0 || n.n > nodeMax || (!root && n.n < nodeMin) || (!root && n.n == 0) {
		return 0, fmt.Errorf("node with %d entries", n.n)
	}
	if !n.leaf && n.n < 2 && root {
		return 0, fmt.Errorf("inner root with %d children", n.n)
	}
	for i := 1; i < n.n; i++ {
		if n.keys[i-1] >= n.keys[i] {
			return 0, fmt.Errorf("keys %#x, %#x out of order", n.keys[i-1], n.keys[i])
		}
	}
	for i := range nodeMax {
		if (n.leaf || i >= n.n) && n.kids[i] != nil || (!n.leaf || i >= n.n) && n.vmas[i] != nil {
			return 0, fmt.Errorf("node of %d entries (leaf %v) keeps a stale pointer in slot %d", n.n, n.leaf, i)
		}
	}
	if n.leaf {
		for i, v := range n.vmas[:n.n] {
			if v == nil || v.Start != n.keys[i] {
				return 0, fmt.Errorf("leaf key %#x holds %v", n.keys[i], v)
			}
		}
		return 1, nil
	}
	height := 0
	for i, k := range n.kids[:n.n] {
		if k == nil || k.n == 0 || k.keys[0] != n.keys[i] {
			return 0, fmt.Errorf("inner key %#x is not its child's first key", n.keys[i])
		}
		h, err := k.check(false)
		if err != nil {
			return 0, err
		}
		if i > 0 && h != height {
			return 0, fmt.Errorf("leaves at depths %d and %d", height, h)
		}
		height = h
	}
	return height + 1, nil
}
