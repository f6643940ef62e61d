package pgtable

import "testing"

func TestFreeEmpty(t *testing.T) {
	tb := NewTable()
	// Leaves at 0, 1 and 2 (in the first PMD table), one in a second PMD
	// table (1 GiB) and one in a second PUD table (512 GiB).
	for _, a := range []uint64{0, LeafSize, 2 * LeafSize, 1 << 30, 1 << 39} {
		install(tb, a, MakePTE(1, rw))
	}
	if s := tb.Stats(); s != (TableStats{Leaves: 5, Interior: 5, Present: 5}) {
		t.Fatalf("Stats = %+v", s)
	}
	// Nothing is freed while entries remain.
	tb.FreeEmpty(0, AddressLimit)
	if s := tb.Stats(); s.Leaves != 5 || s.Interior != 5 {
		t.Fatalf("FreeEmpty freed tables that still map pages: %+v", s)
	}

	old := tb.LockLeaf(LeafSize)
	old.Unlock()
	tb.Zap(0, AddressLimit, nil)
	install(tb, 2*LeafSize, MakePTE(1, rw)) // keeps leaf 2 and the first PMD table
	// [PageSize, ...) does not wholly contain leaf 0: it stays.
	tb.FreeEmpty(PageSize, 1<<40)
	if s := tb.Stats(); s != (TableStats{Leaves: 2, Interior: 2, Present: 1}) {
		t.Fatalf("after FreeEmpty Stats = %+v, want leaves 0 and 2 under one PUD and one PMD table", s)
	}
	old.mu.Lock()
	dead := old.dead
	old.mu.Unlock()
	if !dead {
		t.Fatal("freed leaf not marked dead")
	}
	// LockLeaf never hands out the dead leaf again.
	l := tb.LockLeaf(LeafSize + PageSize)
	if l == old {
		t.Fatal("LockLeaf returned a freed leaf")
	}
	l.SetLocked(LeafSize+PageSize, MakePTE(3, rw))
	l.Unlock()
	if got := tb.Lookup(LeafSize + PageSize); got.PFN() != 3 {
		t.Fatalf("install into a re-created leaf: Lookup = %v", got)
	}
	// A lock-free walker holding the dead leaf sees it empty.
	if got := old.Get(LeafSize + PageSize); got != 0 {
		t.Fatalf("dead leaf entry = %v", got)
	}

	tb.Zap(0, AddressLimit, nil)
	tb.FreeEmpty(0, AddressLimit)
	if s := tb.Stats(); s != (TableStats{}) {
		t.Fatalf("FreeEmpty of everything left %+v", s)
	}
	tb.FreeEmpty(0, 0) // empty range: nothing to do
}

func TestFreeEmptyKeepsStraddlingInteriorTables(t *testing.T) {
	tb := NewTable()
	install(tb, 1<<30+LeafSize, MakePTE(1, rw))
	tb.Zap(0, AddressLimit, nil)
	// The range covers the leaf but only part of its PMD table.
	tb.FreeEmpty(1<<30, 1<<30+4*LeafSize)
	if s := tb.Stats(); s != (TableStats{Leaves: 0, Interior: 2}) {
		t.Fatalf("Stats = %+v, want the leaf freed and both interior tables kept", s)
	}
	tb.FreeEmpty(1<<30, 2<<30)
	if s := tb.Stats(); s != (TableStats{Interior: 1}) {
		t.Fatalf("Stats = %+v, want the PMD table freed, the PUD table (512 GiB) kept", s)
	}
}
