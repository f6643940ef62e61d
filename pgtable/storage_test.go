package pgtable

import (
	"bytes"
	"testing"
)

// TestStorageLifeCycle checks, with recycled and with fresh storage, that
// a freed frame reads as poison through a Slot held from before the free
// (a stale TLB entry), and reads as zeros once it is allocated again.
func TestStorageLifeCycle(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		f := NewFramesWith(4, FrameOptions{FreshStorage: fresh})
		p := mustAlloc(t, f)
		s := f.Slot(p)
		s.Store(3, 42)
		if got := f.Load(p, 3); got != 42 {
			t.Fatalf("fresh=%v: Load after Slot.Store = %d, want 42", fresh, got)
		}
		f.Put(p)
		if got := s.Load(3); got != Poison {
			t.Fatalf("fresh=%v: stale slot read %#x after free, want poison", fresh, got)
		}
		if !f.IsPoisoned(p) {
			t.Fatalf("fresh=%v: freed frame not poisoned", fresh)
		}
		if q := mustAlloc(t, f); q != p {
			t.Fatalf("fresh=%v: Alloc returned %d, want the freed %d (LIFO)", fresh, q, p)
		}
		for w := range WordsPerPage {
			if got := s.Load(uint64(w)); got != 0 {
				t.Fatalf("fresh=%v: reallocated frame word %d = %#x, want 0", fresh, w, got)
			}
		}
	}
}

// TestSetAndCopy checks that Set fills a frame with the bytes and zeros
// after them, and that Copy reproduces a frame, with both storage modes.
func TestSetAndCopy(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		f := NewFramesWith(4, FrameOptions{FreshStorage: fresh})
		p, q := mustAlloc(t, f), mustAlloc(t, f)
		f.Store(p, WordsPerPage-1, 7) // must be cleared by Set
		data := []byte("hello, page cache")
		f.Set(p, data)
		got := make([]byte, PageSize)
		f.ReadAt(p, got, 0)
		want := make([]byte, PageSize)
		copy(want, data)
		if !bytes.Equal(got, want) {
			t.Fatalf("fresh=%v: Set left %q... (last word %#x)", fresh, got[:len(data)], f.Load(p, WordsPerPage-1))
		}
		f.Copy(q, p)
		f.ReadAt(q, got, 0)
		if !bytes.Equal(got, want) {
			t.Fatalf("fresh=%v: Copy gave %q...", fresh, got[:len(data)])
		}
	}
}
