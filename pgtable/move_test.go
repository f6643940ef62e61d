package pgtable

import (
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// shifted returns what Move(old, length, new) must leave, computed on a
// map model: entries of the old range go to the same offset from new.
func shifted(m map[uint64]PTE, old, length, new uint64) map[uint64]PTE {
	out := map[uint64]PTE{}
	for a, e := range m {
		if a < old || a >= old+length {
			out[a] = e
		}
	}
	for a, e := range m {
		if a >= old && a < old+length {
			out[a-old+new] = e
		}
	}
	return out
}

func TestMove(t *testing.T) {
	const P = PageSize
	tests := []struct {
		name             string
		pages            []uint64 // offsets of mapped pages from src
		src, length, dst uint64
	}{
		{"within a leaf", []uint64{0, 2 * P}, 4 * P, 3 * P, 100 * P},
		{"across leaf boundaries", []uint64{0, P, 5 * P}, LeafSize - 2*P, 6 * P, 3*LeafSize - 3*P},
		{"to another PUD table", []uint64{0, 3 * P}, 8 * P, 4 * P, 1<<39 + 8*P},
		{"overlap up one page", []uint64{0, P, 2 * P, 3 * P}, 10 * P, 4 * P, 11 * P},
		{"overlap down one page", []uint64{0, P, 2 * P, 3 * P}, 10 * P, 4 * P, 9 * P},
		{"overlap up across leaves", []uint64{0, P, 700 * P, 1023 * P}, LeafSize - 3*P, 1024 * P, LeafSize + 5*P},
		{"overlap down across leaves", []uint64{0, P, 700 * P, 1023 * P}, 3*LeafSize - 3*P, 1024 * P, LeafSize + 5*P},
		{"empty source", nil, 0, 16 * P, LeafSize},
		{"zero length", []uint64{0}, 0, 0, LeafSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable()
			model := map[uint64]PTE{}
			for i, off := range tc.pages {
				e := MakePTE(PFN(i+1), rw)
				install(tb, tc.src+off, e)
				model[tc.src+off] = e
			}
			// A neighbour outside both ranges must not move.
			install(tb, 5*LeafSize, MakePTE(77, rw))
			model[5*LeafSize] = MakePTE(77, rw)
			before := tb.Stats().Leaves
			tb.Move(tc.src, tc.length, tc.dst)
			want := shifted(model, tc.src, tc.length, tc.dst)
			if got := present(tb, 0, AddressLimit); !maps.Equal(got, want) {
				t.Fatalf("after Move present = %v\nwant %v", got, want)
			}
			if len(tc.pages) == 0 && tb.Stats().Leaves != before {
				t.Fatal("Move of nothing allocated destination tables")
			}
		})
	}
}

func TestMoveRefusesOccupiedDestination(t *testing.T) {
	tb := NewTable()
	install(tb, 0, MakePTE(1, rw))
	install(tb, LeafSize+PageSize, MakePTE(2, rw))
	mustPanic(t, "already maps", func() { tb.Move(0, 2*PageSize, LeafSize) })
	// Also where nothing moves into the occupied slot.
	tb2 := NewTable()
	install(tb2, 3*LeafSize, MakePTE(2, rw))
	mustPanic(t, "already maps", func() { tb2.Move(0, 4*PageSize, 3*LeafSize) })
	// The locks were released on the way out.
	tb.LockLeaf(0).Unlock()
	tb.LockLeaf(LeafSize).Unlock()
	tb2.LockLeaf(3 * LeafSize).Unlock()
}

// TestMoveMatchesModel moves random populations between random, often
// overlapping, ranges around a PMD-table boundary.
func TestMoveMatchesModel(t *testing.T) {
	const window = 3 * PTEsPerLeaf // pages
	base := uint64(1<<30) - LeafSize - LeafSize/2
	rapid.Check(t, func(rt *rapid.T) {
		tb := NewTable()
		length := uint64(rapid.IntRange(0, window/2).Draw(rt, "pages"))
		src := uint64(rapid.IntRange(0, window-int(length)).Draw(rt, "src"))
		dst := uint64(rapid.IntRange(0, window-int(length)).Draw(rt, "dst"))
		model := map[uint64]PTE{}
		for i := range length {
			if rapid.IntRange(0, 3).Draw(rt, "mapped") == 0 {
				a := base + (src+i)*PageSize
				e := MakePTE(PFN(src+i+1), rw)
				install(tb, a, e)
				model[a] = e
			}
		}
		tb.Move(base+src*PageSize, length*PageSize, base+dst*PageSize)
		want := shifted(model, base+src*PageSize, length*PageSize, base+dst*PageSize)
		if got := present(tb, 0, AddressLimit); !maps.Equal(got, want) {
			rt.Fatalf("Move(%d, %d, %d): got %v want %v", src, length, dst, got, want)
		}
	})
}
