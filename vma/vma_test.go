package vma

import "testing"

func TestNewCopySliceFields(t *testing.T) {
	b := newCountingBacking("/lib/libc.so")
	v := New(0x7f0000000000, 0x7f0000004000, ProtRead|ProtExec, FlagMayWrite, 10, b)
	v.Private = "anon-id"
	if got := b.opens(v); got != 1 {
		t.Fatalf("New called Open %d times, want 1", got)
	}
	if v.Len() != pages(4) || !v.Contains(0x7f0000003fff) || v.Contains(0x7f0000004000) || v.Contains(0x7effffffffff) {
		t.Fatalf("Len/Contains wrong for %v", v)
	}
	if got := v.PgoffAt(0x7f0000002010); got != 12 {
		t.Fatalf("PgoffAt = %d, want 12", got)
	}
	if v.Attached() || v.Refs() != 0 {
		t.Fatalf("new VMA attached=%v refs=%d, want unattached", v.Attached(), v.Refs())
	}
	if v.TryGet() {
		t.Fatal("TryGet succeeded on an unattached VMA")
	}

	c := v.Copy()
	if c == v || c.Start != v.Start || c.End != v.End || c.Prot != v.Prot || c.Flags != v.Flags ||
		c.Pgoff != v.Pgoff || c.Backing != v.Backing || c.Private != v.Private {
		t.Fatalf("Copy %+v differs from %+v", c, v)
	}
	if b.opens(c) != 1 {
		t.Fatal("Copy did not call Open once on the copy")
	}

	s := v.Slice(0x7f0000001000, 0x7f0000003000)
	if s.Start != 0x7f0000001000 || s.End != 0x7f0000003000 || s.Pgoff != 11 || s.Private != "anon-id" || b.opens(s) != 1 {
		t.Fatalf("Slice = %+v (opens %d)", s, b.opens(s))
	}
	mustPanic(t, "outside", func() { v.Slice(0x7f0000003000, 0x7f0000005000) })
	mustPanic(t, "bad range", func() { v.Slice(0x7f0000001001, 0x7f0000003000) })
	mustPanic(t, "bad range", func() { New(pages(2), pages(2), ProtRead, 0, 0, nil) })
	mustPanic(t, "bad range", func() { New(0, AddrLimit+PageSize, ProtRead, 0, 0, nil) })
}

func TestSliceAndCopyInheritRelease(t *testing.T) {
	rc := newReleaseCounter()
	v := New(0, pages(4), ProtRead, 0, 0, nil)
	v.SetRelease(rc.release)
	tr := NewTree()
	insertCommit(tr, v)
	tx := tr.Begin()
	tx.Unmap(pages(1), pages(2)) // splits v into two slices
	tx.Commit()
	got := tr.Snapshot().VMAs()
	if len(got) != 2 {
		t.Fatalf("after the split: %v", got)
	}
	tx = tr.Begin()
	tx.Unmap(0, pages(4))
	tx.Commit()
	for _, s := range got {
		if rc.count(s) != 1 {
			t.Fatalf("slice %v released %d times, want 1: the release func is inherited", s, rc.count(s))
		}
	}
	if rc.count(v) != 1 {
		t.Fatalf("original released %d times, want 1", rc.count(v))
	}
}

func TestString(t *testing.T) {
	cases := []struct {
		v    *VMA
		want string
	}{
		{New(0x7f0000000000, 0x7f0000002000, ProtRead|ProtWrite, 0, 0, nil), "7f0000000000-7f0000002000 rw-p"},
		{New(0x10000, 0x11000, ProtRead|ProtExec, FlagShared, 0, nil), "00010000-00011000 r-xs"},
		{New(0x10000, 0x11000, ProtNone, 0, 0, nil), "00010000-00011000 ---p"},
	}
	for _, c := range cases {
		if got := c.v.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}
