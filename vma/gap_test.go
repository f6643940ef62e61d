package vma

import "testing"

// gapLayout maps [16,20) [24,26) [40,41) pages: gaps [0,16) [20,24)
// [26,40) [41, AddrLimit).
func gapLayout(t *testing.T) *Tree {
	t.Helper()
	tr := NewTree()
	insertCommit(tr,
		New(pages(16), pages(20), ProtRead, 0, 0, nil),
		New(pages(24), pages(26), ProtRead, 0, 0, nil),
		New(pages(40), pages(41), ProtRead, 0, 0, nil))
	return tr
}

func TestUnmappedArea(t *testing.T) {
	tr := gapLayout(t)
	tx := tr.Begin()
	defer tx.Abort()
	cases := []struct {
		name string
		req  GapRequest
		want uint64
		ok   bool
	}{
		{"top-down goes to the top of the highest gap that fits",
			GapRequest{Length: pages(4), High: pages(40), TopDown: true}, pages(36), true},
		{"a gap exactly as long as the request fits",
			GapRequest{Length: pages(4), High: pages(26), TopDown: true}, pages(20), true},
		{"bottom-up takes the lowest start",
			GapRequest{Length: pages(4), Low: pages(17), High: AddrLimit}, pages(20), true},
		{"High clips the gap it falls in",
			GapRequest{Length: pages(2), High: pages(30), TopDown: true}, pages(28), true},
		{"Low clips the gap it falls in",
			GapRequest{Length: pages(2), Low: pages(27), High: AddrLimit}, pages(27), true},
		{"alignment moves the start down (top-down)",
			GapRequest{Length: pages(2), High: pages(39), Align: pages(8), TopDown: true}, pages(32), true},
		{"alignment moves the start up (bottom-up)",
			GapRequest{Length: pages(2), Low: pages(21), High: AddrLimit, Align: pages(8)}, pages(32), true},
		{"a gap that is long enough but misaligned is skipped",
			GapRequest{Length: pages(2), Low: pages(17), High: pages(30), Align: pages(16), TopDown: true}, 0, false},
		{"the gap above the last VMA reaches AddrLimit",
			GapRequest{Length: pages(4), High: ^uint64(0), TopDown: true}, AddrLimit - pages(4), true},
		{"the gap below the first VMA starts at 0",
			GapRequest{Length: pages(16), High: AddrLimit}, 0, true},
		{"High 0 leaves no room", GapRequest{Length: PageSize}, 0, false},
		{"nothing fits", GapRequest{Length: pages(17), High: pages(40)}, 0, false},
		{"zero length never fits", GapRequest{Length: 0, High: AddrLimit}, 0, false},
		{"High below Low", GapRequest{Length: PageSize, Low: pages(30), High: pages(20)}, 0, false},
	}
	for _, c := range cases {
		got, ok := tx.UnmappedArea(c.req)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: UnmappedArea(%+v) = %#x, %v; want %#x, %v", c.name, c.req, got, ok, c.want, c.ok)
		}
	}
	mustPanic(t, "bad GapRequest.Align", func() { tx.UnmappedArea(GapRequest{Length: PageSize, High: AddrLimit, Align: 3 * PageSize}) })
	mustPanic(t, "bad GapRequest.Align", func() { tx.UnmappedArea(GapRequest{Length: PageSize, High: AddrLimit, Align: 512}) })
}

func TestGapIndexFollowsTxnAndAbort(t *testing.T) {
	tr := gapLayout(t)
	req := GapRequest{Length: pages(4), High: pages(40), TopDown: true}
	tx := tr.Begin()
	tx.Insert(New(pages(30), pages(40), ProtRead, 0, 0, nil))
	if a, ok := tx.UnmappedArea(req); !ok || a != pages(26) {
		t.Fatalf("inside the Txn the new VMA must be seen: got %#x %v, want %#x", a, ok, pages(26))
	}
	tx.Abort()
	tx = tr.Begin()
	defer tx.Abort()
	if a, ok := tx.UnmappedArea(req); !ok || a != pages(36) {
		t.Fatalf("after Abort the gap must be back: got %#x %v, want %#x", a, ok, pages(36))
	}
	if err := tr.CheckLocked(); err != nil {
		t.Fatal(err)
	}
}
