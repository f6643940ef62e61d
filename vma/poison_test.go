package vma

import "testing"

func TestPoisonMakesUsePanic(t *testing.T) {
	b := newCountingBacking("f")
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 3, b)
	insertCommit(tr, v)
	mustPanic(t, "Poison of live", v.Poison)
	tx := tr.Begin()
	tx.Remove(v)
	tx.Commit()
	v.Poison()
	if !v.Poisoned() || v.String() != "vma(freed)" {
		t.Fatalf("Poisoned=%v String=%q", v.Poisoned(), v.String())
	}
	if v.Start != PoisonAddr || v.End != PoisonAddr || v.Pgoff != PoisonAddr || v.Prot != 0 {
		t.Fatalf("fields not poisoned: %+v", v)
	}
	uses := map[string]func(){
		"Attached":    func() { v.Attached() },
		"TryGet":      func() { v.TryGet() },
		"Put":         v.Put,
		"Refs":        func() { v.Refs() },
		"Contains":    func() { v.Contains(pages(17)) },
		"Len":         func() { v.Len() },
		"PgoffAt":     func() { v.PgoffAt(pages(17)) },
		"Copy":        func() { v.Copy() },
		"Slice":       func() { v.Slice(pages(16), pages(17)) },
		"TryReadLock": func() { v.TryReadLock(2) },
		"WriteLock":   func() { v.WriteLock(2) },
		"WriteLocked": func() { v.WriteLocked(2) },
		"Backing":     func() { v.Backing.Name() },
		"Poison":      v.Poison,
	}
	for name, f := range uses {
		want := "use after free"
		if name == "Poison" {
			want = "double free"
		}
		t.Run(name, func(t *testing.T) { mustPanic(t, want, f) })
	}
}

func TestPoisonedVMAInSnapshotPanicsOnLookup(t *testing.T) {
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	insertCommit(tr, v)
	old := tr.Snapshot()
	tx := tr.Begin()
	tx.Remove(v)
	tx.Commit()
	v.Poison() // as if a grace period had passed
	// A reader that kept the old snapshot beyond its read-side section.
	mustPanic(t, "use after free", func() { old.Find(pages(17)) })
}

func TestDiscard(t *testing.T) {
	b := newCountingBacking("f")
	v := New(pages(16), pages(20), ProtRead, 0, 0, b)
	v.Discard()
	if b.closes(v) != 1 || !v.Poisoned() {
		t.Fatalf("Discard: closes=%d poisoned=%v", b.closes(v), v.Poisoned())
	}
	tr := NewTree()
	u := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	insertCommit(tr, u)
	mustPanic(t, "Discard of", u.Discard)
}
