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

	// An entry cleared through SetLocked counts as gone too.
	install(tb, 1<<30, MakePTE(4, rw))
	install(tb, 1<<30, 0)
	tb.FreeEmpty(0, AddressLimit)
	if s := tb.Stats(); s != (TableStats{}) {
		t.Fatalf("FreeEmpty after SetLocked(0) left %+v", s)
	}
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

// A LockLeaf that found a leaf which FreeEmpty frees before LockLeaf gets
// its lock must not install into the dead leaf: the entry would be lost
// (and its frame leaked) because no walker can reach that leaf any more.
func TestLockLeafWalksAgainWhenLeafFreedMeanwhile(t *testing.T) {
	const a = 1<<30 + 3*PageSize
	tb := NewTable()
	install(tb, a, MakePTE(1, rw))
	tb.Zap(0, AddressLimit, nil)
	old := tb.LockLeaf(a)
	old.Unlock()

	walked, freed := make(chan struct{}), make(chan struct{})
	calls := 0
	testHookBeforeLeafLock = func(l *Leaf) {
		calls++
		if calls == 1 {
			close(walked)
			<-freed
		}
	}
	defer func() { testHookBeforeLeafLock = nil }()
	got := make(chan *Leaf)
	go func() {
		l := tb.LockLeaf(a)
		l.SetLocked(a, MakePTE(2, rw))
		l.Unlock()
		got <- l
	}()
	<-walked
	tb.FreeEmpty(0, AddressLimit)
	if s := tb.Stats(); s != (TableStats{}) {
		t.Fatalf("FreeEmpty left %+v", s)
	}
	close(freed)
	l := <-got
	if l == old || calls != 2 {
		t.Fatalf("LockLeaf returned the freed leaf (same=%v, walks=%d)", l == old, calls)
	}
	if e := tb.Lookup(a); e != MakePTE(2, rw) {
		t.Fatalf("Lookup after install = %v: the entry went into an unreachable leaf", e)
	}
}
