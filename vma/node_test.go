package vma

import (
	"math/rand/v2"
	"testing"

	"github.com/google/btree"
	"pgregory.net/rapid"
)

// TestNodeTreeAgainstBTree drives the B+tree under Tree with long runs of
// inserts and removes, publishing (sealing) now and then, and checks it
// against github.com/google/btree as an independent ordered set: every
// lookup agrees, the structure is valid after every step, and a root kept
// from an earlier publish still holds exactly what it held then (no
// in-place change ever reaches a published node). Keys come from a small
// range so that runs fill and empty many leaves: splits, merges and both
// directions of refill all happen.
func TestNodeTreeAgainstBTree(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var w writer
		w.seal()
		root := &node{leaf: true}
		ref := btree.NewG(4, func(a, b uint64) bool { return a < b })
		vmas := map[uint64]*VMA{}
		vmaAt := func(k uint64) *VMA {
			if vmas[k] == nil {
				vmas[k] = New(k*PageSize, (k+1)*PageSize, ProtRead, 0, 0, nil)
			}
			return vmas[k]
		}
		type kept struct {
			root *node
			keys []uint64
		}
		var old []kept
		remove := func(step int, k uint64) {
			var v *VMA
			root, v = w.removeRoot(root, k*PageSize, nil)
			if v != vmas[k] {
				rt.Fatalf("step %d: remove %#x returned %v", step, k, v)
			}
			ref.Delete(k)
		}

		keySpace := rapid.Uint64Range(8, 4000).Draw(rt, "keySpace")
		steps := rapid.IntRange(200, 6000).Draw(rt, "steps")
		for step := range steps {
			k := rapid.Uint64Range(0, keySpace).Draw(rt, "k")
			// The first half grows the tree (inserts only), the second
			// shrinks it (mostly removes), so runs build trees of three
			// or four levels and then take them apart.
			grow := step < steps/2
			op := rapid.IntRange(0, 9).Draw(rt, "op")
			if grow && op < 8 {
				op = 0
			}
			switch {
			case op < 5: // insert; or, while shrinking, remove if present
				if _, ok := ref.Get(k); ok {
					if !grow {
						remove(step, k)
					}
				} else {
					root = w.insertRoot(root, k*PageSize, vmaAt(k))
					ref.ReplaceOrInsert(k)
				}
			case op < 8: // remove the floor of k, if any
				if f, ok := refFloor(ref, k); ok {
					remove(step, f)
				}
			case op == 8: // publish, keeping the published root
				w.seal()
				var keys []uint64
				ref.Ascend(func(k uint64) bool { keys = append(keys, k); return true })
				old = append(old, kept{root, keys})
			default: // lookups
				checkNodeLookups(rt, root, ref, k)
			}
			if _, err := root.check(true); err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
		}
		checkNodeLookups(rt, root, ref, 0)
		if got, want := len(root.appendAll(nil)), ref.Len(); got != want {
			rt.Fatalf("tree holds %d, reference %d", got, want)
		}
		for i, o := range old {
			got := o.root.appendAll(nil)
			if len(got) != len(o.keys) {
				rt.Fatalf("published root %d: now holds %d VMAs, held %d", i, len(got), len(o.keys))
			}
			for j, v := range got {
				if v.Start != o.keys[j]*PageSize {
					rt.Fatalf("published root %d changed at %d: %v, was key %#x", i, j, v, o.keys[j])
				}
			}
			if _, err := o.root.check(true); err != nil {
				rt.Fatalf("published root %d: %v", i, err)
			}
		}
	})
}

func refFloor(ref *btree.BTreeG[uint64], k uint64) (uint64, bool) {
	var f uint64
	ok := false
	ref.DescendLessOrEqual(k, func(x uint64) bool { f, ok = x, true; return false })
	return f, ok
}

// checkNodeLookups compares floor, ceil, first and ascend over [k, k+40)
// with the reference.
func checkNodeLookups(rt fataler, root *node, ref *btree.BTreeG[uint64], k uint64) {
	startOf := func(v *VMA) (uint64, bool) {
		if v == nil {
			return 0, false
		}
		return v.Start / PageSize, true
	}
	wantF, okF := refFloor(ref, k)
	if got, ok := startOf(root.floor(k * PageSize)); ok != okF || got != wantF {
		rt.Fatalf("floor(%#x) = %#x,%v; want %#x,%v", k, got, ok, wantF, okF)
	}
	var wantC uint64
	okC := false
	ref.AscendGreaterOrEqual(k, func(x uint64) bool { wantC, okC = x, true; return false })
	if got, ok := startOf(root.ceil(k * PageSize)); ok != okC || got != wantC {
		rt.Fatalf("ceil(%#x) = %#x,%v; want %#x,%v", k, got, ok, wantC, okC)
	}
	wantMin, okMin := ref.Min()
	if got, ok := startOf(root.first()); ok != okMin || got != wantMin {
		rt.Fatalf("first = %#x,%v; want %#x,%v", got, ok, wantMin, okMin)
	}
	var want, got []uint64
	ref.AscendRange(k, k+40, func(x uint64) bool { want = append(want, x); return true })
	root.ascend(k*PageSize, (k+40)*PageSize, func(v *VMA) bool { got = append(got, v.Start/PageSize); return true })
	if len(got) != len(want) {
		rt.Fatalf("ascend [%#x,%#x): %v, want %v", k, k+40, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			rt.Fatalf("ascend [%#x,%#x): %v, want %v", k, k+40, got, want)
		}
	}
}

// TestNodeTreeDeep builds a tree of 20,000 VMAs in random order, which is
// five levels deep, then takes it apart in another random order, sealing
// every 100 edits, checking the structure and a sample of lookups against
// github.com/google/btree every 500, and checking at the end that roots
// published on the way still hold what they held.
func TestNodeTreeDeep(t *testing.T) {
	const n = 20000
	rng := rand.New(rand.NewPCG(3, 4))
	keys := rng.Perm(2 * n)[:n]
	var w writer
	w.seal()
	root := &node{leaf: true}
	ref := btree.NewG(8, func(a, b uint64) bool { return a < b })
	type kept struct {
		root *node
		n    int
		sum  uint64
	}
	var old []kept
	sum := func(r *node) (c int, s uint64) {
		r.ascend(0, AddrLimit, func(v *VMA) bool { c++; s += v.Start; return true })
		return c, s
	}
	step := func(i int) {
		if i%100 == 0 {
			w.seal()
			c, s := sum(root)
			old = append(old, kept{root, c, s})
		}
		if i%500 == 0 {
			if _, err := root.check(true); err != nil {
				t.Fatalf("edit %d: %v", i, err)
			}
			for range 50 {
				checkNodeLookups(t, root, ref, rng.Uint64N(2*n+10))
			}
		}
	}
	maxHeight := 0
	for i, k := range keys {
		key := uint64(k)
		root = w.insertRoot(root, key*PageSize, New(key*PageSize, (key+1)*PageSize, ProtRead, 0, 0, nil))
		ref.ReplaceOrInsert(key)
		step(i)
		if i%1000 == 0 {
			h, _ := root.check(true)
			maxHeight = max(maxHeight, h)
		}
	}
	// A remove that finds nothing to remove (an absent key, or a
	// present key holding another VMA) changes and copies nothing (with
	// recycling on for the check, a copy would retire the original).
	w.seal()
	w.reclaim = reclaimFunc(func(func()) {})
	for _, k := range []uint64{2 * n, 2*n + 7, uint64(keys[0])} {
		var want *VMA
		if k == uint64(keys[0]) {
			want = New(k*PageSize, (k+1)*PageSize, ProtRead, 0, 0, nil)
		}
		if r, v := w.removeRoot(root, k*PageSize, want); r != root || v != nil {
			t.Fatalf("remove of absent %#x: root %p → %p, removed %v", k, root, r, v)
		}
	}
	if len(w.retired) != 0 {
		t.Fatalf("removes that removed nothing retired %d nodes", len(w.retired))
	}
	w.reclaim = nil
	if maxHeight < 4 {
		t.Fatalf("tree of %d VMAs only %d levels high: the test no longer reaches deep trees", n, maxHeight)
	}
	for i, j := range rng.Perm(n) {
		key := uint64(keys[j])
		var v *VMA
		root, v = w.removeRoot(root, key*PageSize, nil)
		if v == nil || v.Start != key*PageSize {
			t.Fatalf("remove %#x returned %v", key, v)
		}
		ref.Delete(key)
		step(i)
	}
	if !root.leaf || root.n != 0 {
		t.Fatalf("emptied tree has a root with %d entries (leaf %v)", root.n, root.leaf)
	}
	for i, o := range old {
		if c, s := sum(o.root); c != o.n || s != o.sum {
			t.Fatalf("published root %d changed: %d VMAs (sum %#x), had %d (%#x)", i, c, s, o.n, o.sum)
		}
	}
}

// TestRecycledNodesAreReused: with a reclaim that runs at once (no
// readers here), a steady remove-insert-publish cycle allocates no nodes
// after its first rounds, and the tree stays correct while its nodes are
// cleared and reused.
func TestRecycledNodesAreReused(t *testing.T) {
	const n = 5000
	var w writer
	w.seal()
	w.reclaim = reclaimFunc(func(f func()) { f() })
	root := &node{leaf: true}
	vs := make([]*VMA, n)
	for i := range vs {
		a := uint64(i) * 2 * PageSize
		vs[i] = New(a, a+PageSize, ProtRead, 0, 0, nil)
		root = w.insertRoot(root, a, vs[i])
	}
	w.seal()
	rng := rand.New(rand.NewPCG(5, 6))
	cycle := func() {
		v := vs[rng.IntN(n)]
		root, _ = w.removeRoot(root, v.Start, v)
		root = w.insertRoot(root, v.Start, v)
		w.seal()
	}
	for range 2 * reclaimBatch {
		cycle()
	}
	if allocs := testing.AllocsPerRun(1000, cycle); allocs > 0.1 {
		t.Errorf("%.2f allocations per remove+insert+publish with recycling, want ~0", allocs)
	}
	if _, err := root.check(true); err != nil {
		t.Fatal(err)
	}
	got := root.appendAll(nil)
	if len(got) != n {
		t.Fatalf("tree holds %d VMAs, want %d", len(got), n)
	}
	for i, v := range got {
		if v != vs[i] {
			t.Fatalf("VMA %d is %v, want %v", i, v, vs[i])
		}
	}
}
