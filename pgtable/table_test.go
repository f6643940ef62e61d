package pgtable

import (
	"slices"
	"testing"
)

const rw = PTEPresent | PTERead | PTEWrite

// install maps addr to p through the locked path.
func install(t *Table, addr uint64, e PTE) {
	l := t.LockLeaf(addr)
	l.SetLocked(addr, e)
	l.Unlock()
}

// present returns every present entry in [start, end) as a map.
func present(t *Table, start, end uint64) map[uint64]PTE {
	m := map[uint64]PTE{}
	t.Range(start, end, func(a uint64, e PTE) bool { m[a] = e; return true })
	return m
}

func TestLockLeafInstallsAndLookupFinds(t *testing.T) {
	addrs := []uint64{
		0, PageSize, LeafSize - PageSize, LeafSize, // one leaf boundary
		1<<30 - PageSize, 1 << 30, // a PMD-table boundary
		1<<39 + 5*PageSize,      // another PUD table
		AddressLimit - PageSize, // the last page
	}
	tb := NewTable()
	for i, a := range addrs {
		if tb.Lookup(a) != 0 {
			t.Fatalf("Lookup(%#x) on empty table = %v", a, tb.Lookup(a))
		}
		l := tb.LockLeaf(a)
		if l.Base() != a&^(LeafSize-1) {
			t.Fatalf("Base = %#x for %#x", l.Base(), a)
		}
		l.SetLocked(a, MakePTE(PFN(i+1), rw))
		if got := l.Get(a); got != MakePTE(PFN(i+1), rw) {
			t.Fatalf("Leaf.Get = %v", got)
		}
		l.Unlock()
	}
	for i, a := range addrs {
		if got := tb.Lookup(a); got.PFN() != PFN(i+1) || !got.Present() {
			t.Errorf("Lookup(%#x) = %v, want pfn %d", a, got, i+1)
		}
		if got := tb.Lookup(a + PageSize - 1); got.PFN() != PFN(i+1) {
			t.Errorf("Lookup of the page's last byte = %v", got)
		}
	}
	for _, a := range []uint64{2 * PageSize, 1<<30 + LeafSize, AddressLimit, ^uint64(0)} {
		if got := tb.Lookup(a); got != 0 {
			t.Errorf("Lookup(%#x) = %v, want 0", a, got)
		}
	}
	// Leaves: [0], [LeafSize], [1<<30 - LeafSize], [1<<30], [1<<39], [last].
	// Interior: PUD tables for slots 0, 1, 511; PMD tables for 0-1GiB,
	// 1-2GiB, 512GiB and the last GiB.
	want := TableStats{Leaves: 6, Interior: 7, Present: len(addrs)}
	if got := tb.Stats(); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	// The same leaf comes back while it lives.
	l1 := tb.LockLeaf(PageSize)
	l1.Unlock()
	l2 := tb.LockLeaf(LeafSize - 1)
	l2.Unlock()
	if l1 != l2 {
		t.Fatal("LockLeaf returned two leaves for one 2 MiB region")
	}
}

func TestTableProgrammerErrorsPanic(t *testing.T) {
	tb := NewTable()
	l := tb.LockLeaf(0)
	l.Unlock()
	tests := []struct {
		name, want string
		do         func()
	}{
		{"LockLeaf beyond limit", "beyond", func() { tb.LockLeaf(AddressLimit) }},
		{"Get outside leaf", "outside leaf", func() { l.Get(LeafSize) }},
		{"SetLocked unlocked", "without the leaf lock", func() { l.SetLocked(0, MakePTE(1, rw)) }},
		{"Zap unaligned", "unaligned", func() { tb.Zap(1, PageSize, nil) }},
		{"Protect unaligned", "unaligned", func() { tb.Protect(0, PageSize+1, func(e PTE) PTE { return e }) }},
		{"FreeEmpty unaligned", "unaligned", func() { tb.FreeEmpty(0, 5) }},
		{"Move unaligned", "unaligned", func() { tb.Move(0, 3, LeafSize) }},
		{"Move past limit", "out of range", func() { tb.Move(0, 2*PageSize, AddressLimit-PageSize) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustPanic(t, tc.want, tc.do) })
	}
	if tb.Lookup(0) != 0 {
		t.Fatal("a refused SetLocked changed the entry")
	}
}

func TestZapClearsRangeAndReturnsFrames(t *testing.T) {
	tb := NewTable()
	base := uint64(1<<30 - 4*PageSize) // straddles a leaf and a PMD table
	for i := range uint64(8) {
		install(tb, base+i*PageSize, MakePTE(PFN(100+i), rw))
	}
	install(tb, base+8*PageSize, MakePTE(ZeroPFN, PTEPresent|PTERead|PTEZero))
	install(tb, base+9*PageSize, MakePTE(55, PTERead)) // not present

	got := tb.Zap(base+2*PageSize, base+10*PageSize, []PFN{1})
	want := []PFN{1, 102, 103, 104, 105, 106, 107} // dst kept, order = address order, no zero frame
	if !slices.Equal(got, want) {
		t.Fatalf("Zap returned %v, want %v", got, want)
	}
	left := present(tb, 0, AddressLimit)
	if len(left) != 2 || left[base].PFN() != 100 || left[base+PageSize].PFN() != 101 {
		t.Fatalf("after Zap present = %v, want only the two pages below the range", left)
	}
	if tb.Lookup(base+9*PageSize) != 0 {
		t.Fatal("Zap left a non-present entry behind")
	}
	if got := tb.Zap(0, AddressLimit, nil); !slices.Equal(got, []PFN{100, 101}) {
		t.Fatalf("Zap of everything = %v", got)
	}
	if s := tb.Stats(); s.Present != 0 || s.Leaves != 2 {
		t.Fatalf("Stats after Zap = %+v: entries must go, tables stay", s)
	}
	if got := tb.Zap(0, ^uint64(0)&^PageMask, nil); len(got) != 0 {
		t.Fatalf("Zap of empty table = %v", got)
	}
}

func TestProtect(t *testing.T) {
	tb := NewTable()
	for i := range uint64(4) {
		install(tb, LeafSize-2*PageSize+i*PageSize, MakePTE(PFN(10+i), rw|PTEDirty))
	}
	install(tb, LeafSize+2*PageSize, MakePTE(99, PTERead)) // not present: untouched
	calls := 0
	tb.Protect(LeafSize-PageSize, LeafSize+3*PageSize, func(e PTE) PTE { calls++; return e &^ PTEWrite })
	if calls != 3 {
		t.Fatalf("callback ran %d times, want 3 (present entries in range only)", calls)
	}
	for i, want := range []PTE{
		MakePTE(10, rw|PTEDirty),
		MakePTE(11, PTEPresent|PTERead|PTEDirty),
		MakePTE(12, PTEPresent|PTERead|PTEDirty),
		MakePTE(13, PTEPresent|PTERead|PTEDirty),
	} {
		if got := tb.Lookup(LeafSize - 2*PageSize + uint64(i)*PageSize); got != want {
			t.Errorf("page %d = %v, want %v", i, got, want)
		}
	}
	if got := tb.Lookup(LeafSize + 2*PageSize); got != MakePTE(99, PTERead) {
		t.Errorf("non-present entry changed to %v", got)
	}
	mustPanic(t, "keep the frame", func() {
		tb.Protect(0, 2*LeafSize, func(e PTE) PTE { return MakePTE(1, e.Flags()) })
	})
	mustPanic(t, "keep the frame", func() {
		tb.Protect(0, 2*LeafSize, func(e PTE) PTE { return e &^ PTEPresent })
	})
	// The panicking Protect must have released the leaf lock.
	tb.LockLeaf(LeafSize - PageSize).Unlock()
}

func TestRange(t *testing.T) {
	tb := NewTable()
	addrs := []uint64{PageSize, LeafSize, 1 << 30, 1 << 40}
	for i, a := range slices.Backward(addrs) {
		install(tb, a, MakePTE(PFN(i+1), rw))
	}
	install(tb, 3*PageSize, MakePTE(9, PTERead)) // not present: skipped
	var got []uint64
	tb.Range(0, AddressLimit, func(a uint64, e PTE) bool { got = append(got, a); return true })
	if !slices.Equal(got, addrs) {
		t.Fatalf("Range visited %#x, want %#x in address order", got, addrs)
	}
	got = got[:0]
	tb.Range(0, AddressLimit, func(a uint64, e PTE) bool { got = append(got, a); return len(got) < 2 })
	if len(got) != 2 {
		t.Fatalf("Range did not stop: %#x", got)
	}
	got = got[:0]
	// An unaligned start includes its page; end is exclusive.
	tb.Range(LeafSize+7, 1<<30, func(a uint64, e PTE) bool { got = append(got, a); return true })
	if !slices.Equal(got, []uint64{LeafSize}) {
		t.Fatalf("Range(LeafSize+7, 1<<30) = %#x", got)
	}
}
