package vma

import "fmt"

// The gap index: the free ranges between VMAs, in an AVL tree keyed by
// start, each node carrying the largest gap length in its subtree. Linux
// keeps the same augmentation in the VMA tree itself (rb_subtree_gap
// before 6.1, the maple tree's gap slots since), so that
// vm_unmapped_area skips every subtree whose largest gap is too small.
//
// The index is writer-private: it is read and changed only under the
// writer lock, never by readers, so it needs no copy-on-write. While a Txn
// is open and unpublished, every change is recorded in an undo log so that
// Abort can restore the index.

// gapNode is one free range [start, end); protected by the writer lock.
type gapNode struct {
	start, end  uint64
	maxLen      uint64 // the largest end-start in this subtree
	left, right *gapNode
	height      int32
}

// gapOp is an undo-log entry: a change done to the index.
type gapOp struct {
	kind       gapOpKind
	start, end uint64 // the gap inserted or deleted; for a resize, the gap before it
	now        uint64 // for a resize, the gap's start after it
}

type gapOpKind uint8

const (
	gapInserted gapOpKind = iota
	gapDeleted
	gapResized
)

// gapTree is the gap index; protected by the writer lock.
type gapTree struct {
	root    *gapNode
	n       int     // number of gaps
	logging bool    // record changes in undo
	undo    []gapOp // changes since beginLog, oldest first
	// spare holds deleted nodes for reuse: the index is private to the
	// writer, so a node can be reused as soon as it leaves the tree.
	spare []*gapNode
}

// init makes g, a zero gapTree, the index of an empty address space: one
// gap [0, AddrLimit).
func (g *gapTree) init() { g.insert(0, AddrLimit) }

func (n *gapNode) h() int32 {
	if n == nil {
		return 0
	}
	return n.height
}

func (n *gapNode) max() uint64 {
	if n == nil {
		return 0
	}
	return n.maxLen
}

// fix recomputes n's height and maxLen from its children.
func (n *gapNode) fix() {
	n.height = 1 + max(n.left.h(), n.right.h())
	n.maxLen = max(n.end-n.start, n.left.max(), n.right.max())
}

func rotateRight(n *gapNode) *gapNode {
	l := n.left
	n.left, l.right = l.right, n
	n.fix()
	l.fix()
	return l
}

func rotateLeft(n *gapNode) *gapNode {
	r := n.right
	n.right, r.left = r.left, n
	n.fix()
	r.fix()
	return r
}

// balance restores the AVL invariant at n after one insertion or deletion
// below it, and returns the new subtree root.
func balance(n *gapNode) *gapNode {
	n.fix()
	switch bf := n.left.h() - n.right.h(); {
	case bf > 1:
		if n.left.left.h() < n.left.right.h() {
			n.left = rotateLeft(n.left)
		}
		return rotateRight(n)
	case bf < -1:
		if n.right.right.h() < n.right.left.h() {
			n.right = rotateRight(n.right)
		}
		return rotateLeft(n)
	}
	return n
}

// insert adds the gap [start, end), which must not overlap another.
func (g *gapTree) insert(start, end uint64) {
	var x *gapNode
	if k := len(g.spare); k > 0 {
		x = g.spare[k-1]
		g.spare = g.spare[:k-1]
	} else {
		x = new(gapNode)
	}
	*x = gapNode{start: start, end: end, maxLen: end - start, height: 1}
	g.root = insertGap(g.root, x)
	g.n++
	if g.logging {
		g.undo = append(g.undo, gapOp{kind: gapInserted, start: start, end: end})
	}
}

func insertGap(n, x *gapNode) *gapNode {
	if n == nil {
		return x
	}
	if x.start < n.start {
		n.left = insertGap(n.left, x)
	} else {
		n.right = insertGap(n.right, x)
	}
	return balance(n)
}

// delete removes the gap that starts at start, which must exist.
func (g *gapTree) delete(start uint64) {
	var gone *gapNode
	g.root = deleteGap(g.root, start, &gone)
	g.n--
	if g.logging {
		g.undo = append(g.undo, gapOp{kind: gapDeleted, start: start, end: gone.end})
	}
	*gone = gapNode{}
	g.spare = append(g.spare, gone)
}

// deleteGap removes the gap at start from the subtree n, sets *gone to
// its node and returns the new subtree root.
func deleteGap(n *gapNode, start uint64, gone **gapNode) *gapNode {
	if n == nil {
		panic(fmt.Sprintf("vma: gap index has no gap at %#x", start))
	}
	switch {
	case start < n.start:
		n.left = deleteGap(n.left, start, gone)
	case start > n.start:
		n.right = deleteGap(n.right, start, gone)
	default:
		*gone = n
		if n.left == nil {
			return n.right
		}
		if n.right == nil {
			return n.left
		}
		// Replace n by its successor, the leftmost node on its right.
		var succ *gapNode
		n.right = deleteMin(n.right, &succ)
		succ.left, succ.right = n.left, n.right
		n = succ
	}
	return balance(n)
}

func deleteMin(n *gapNode, min **gapNode) *gapNode {
	if n.left == nil {
		*min = n
		return n.right
	}
	n.left = deleteMin(n.left, min)
	return balance(n)
}

// floor returns the gap with the greatest start <= addr, or nil.
func (g *gapTree) floor(addr uint64) *gapNode {
	var best *gapNode
	for n := g.root; n != nil; {
		if n.start <= addr {
			best, n = n, n.right
		} else {
			n = n.left
		}
	}
	return best
}

// resize changes the gap that starts at key, which must exist, into
// [start, end), in place: the caller guarantees that no other gap lies
// between the old and the new start, so the tree's order holds, and only
// the lengths along the path change. A syscall mostly shrinks or grows
// one gap at one end, and this saves the delete and insert, with their
// rebalancing, that a replace would take.
func (g *gapTree) resize(key, start, end uint64) {
	var old gapNode
	resizeGap(g.root, key, start, end, &old)
	if g.logging {
		g.undo = append(g.undo, gapOp{kind: gapResized, start: old.start, end: old.end, now: start})
	}
}

func resizeGap(n *gapNode, key, start, end uint64, old *gapNode) {
	switch {
	case n == nil:
		panic(fmt.Sprintf("vma: gap index has no gap at %#x", key))
	case key < n.start:
		resizeGap(n.left, key, start, end, old)
	case key > n.start:
		resizeGap(n.right, key, start, end, old)
	default:
		old.start, old.end = n.start, n.end
		n.start, n.end = start, end
	}
	n.maxLen = max(n.end-n.start, n.left.max(), n.right.max())
}

// occupy removes [start, end) from the free space for a VMA being
// inserted. It reports false, changing nothing, if the range is not
// wholly free.
func (g *gapTree) occupy(start, end uint64) bool {
	f := g.floor(start)
	if f == nil || f.end < end {
		return false
	}
	fs, fe := f.start, f.end
	switch {
	case fs < start && end < fe:
		g.resize(fs, fs, start)
		g.insert(end, fe)
	case fs < start:
		g.resize(fs, fs, start)
	case end < fe:
		g.resize(fs, end, fe)
	default:
		g.delete(fs)
	}
	return true
}

// free returns [start, end), a removed VMA's range, to the free space,
// merging it with the gaps on either side.
func (g *gapTree) free(start, end uint64) {
	var below, above *gapNode
	if start > 0 {
		if p := g.floor(start - 1); p != nil && p.end == start {
			below = p
		}
	}
	if n := g.floor(end); n != nil && n.start == end {
		above = n
	}
	switch {
	case below != nil && above != nil:
		bs, ae := below.start, above.end
		g.delete(above.start)
		g.resize(bs, bs, ae)
	case below != nil:
		g.resize(below.start, below.start, end)
	case above != nil:
		g.resize(above.start, start, above.end)
	default:
		g.insert(start, end)
	}
}

// beginLog starts recording changes for rollback.
func (g *gapTree) beginLog() {
	g.logging = true
	g.undo = g.undo[:0]
}

// endLog forgets the recorded changes: they can no longer be rolled back.
func (g *gapTree) endLog() {
	g.logging = false
	g.undo = g.undo[:0]
}

// rollback undoes every change since beginLog, newest first, and stops
// recording.
func (g *gapTree) rollback() {
	g.logging = false
	for i := len(g.undo) - 1; i >= 0; i-- {
		switch op := g.undo[i]; op.kind {
		case gapInserted:
			g.delete(op.start)
		case gapDeleted:
			g.insert(op.start, op.end)
		case gapResized:
			g.resize(op.now, op.start, op.end)
		}
	}
	g.undo = g.undo[:0]
}

// ascend calls fn for every gap in address order (for checks and tests).
func (g *gapTree) ascend(fn func(start, end uint64)) {
	var walk func(*gapNode)
	walk = func(n *gapNode) {
		if n == nil {
			return
		}
		walk(n.left)
		fn(n.start, n.end)
		walk(n.right)
	}
	walk(g.root)
}

// check verifies the AVL shape, the ordering and the maxLen augmentation.
func (g *gapTree) check() error {
	count := 0
	var walk func(n *gapNode, lo, hi uint64) (int32, uint64, error)
	walk = func(n *gapNode, lo, hi uint64) (int32, uint64, error) {
		if n == nil {
			return 0, 0, nil
		}
		count++
		if n.start >= n.end || n.start < lo || n.end > hi {
			return 0, 0, fmt.Errorf("gap [%#x,%#x) out of order (bounds [%#x,%#x))", n.start, n.end, lo, hi)
		}
		lh, lm, err := walk(n.left, lo, n.start)
		if err != nil {
			return 0, 0, err
		}
		rh, rm, err := walk(n.right, n.end, hi)
		if err != nil {
			return 0, 0, err
		}
		if lh-rh > 1 || rh-lh > 1 || n.height != 1+max(lh, rh) {
			return 0, 0, fmt.Errorf("gap [%#x,%#x) unbalanced", n.start, n.end)
		}
		if m := max(n.end-n.start, lm, rm); m != n.maxLen {
			return 0, 0, fmt.Errorf("gap [%#x,%#x) maxLen %#x, want %#x", n.start, n.end, n.maxLen, m)
		}
		return n.height, n.maxLen, nil
	}
	if _, _, err := walk(g.root, 0, AddrLimit); err != nil {
		return err
	}
	if count != g.n {
		return fmt.Errorf("gap index holds %d gaps, counted %d", count, g.n)
	}
	return nil
}
