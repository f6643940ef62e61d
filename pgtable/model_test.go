package pgtable

import (
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestTableMatchesModel runs random sequences of every Table operation in
// a window that straddles a PUD-table boundary (512 GiB) and compares the
// table with a map after each step.
func TestTableMatchesModel(t *testing.T) {
	const window = 4 * PTEsPerLeaf // pages
	base := uint64(1<<39) - 2*LeafSize
	addr := func(page uint64) uint64 { return base + page*PageSize }
	rapid.Check(t, func(rt *rapid.T) {
		tb := NewTable()
		model := map[uint64]PTE{}
		page := rapid.OneOf(rapid.IntRange(0, window-1), rapid.IntRange(PTEsPerLeaf*2-3, PTEsPerLeaf*2+3))
		span := func() (uint64, uint64) {
			lo := uint64(page.Draw(rt, "lo"))
			hi := lo + uint64(rapid.IntRange(0, window-int(lo)).Draw(rt, "len"))
			return lo, hi
		}
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1: // install
				p := uint64(page.Draw(rt, "page"))
				e := MakePTE(PFN(step+1), rw)
				install(tb, addr(p), e)
				model[addr(p)] = e
			case 2: // zap
				lo, hi := span()
				got := tb.Zap(addr(lo), addr(hi), nil)
				var want []PFN
				for p := lo; p < hi; p++ {
					if e, ok := model[addr(p)]; ok {
						want = append(want, e.PFN())
						delete(model, addr(p))
					}
				}
				if len(got) != len(want) {
					rt.Fatalf("Zap returned %v, want %v", got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						rt.Fatalf("Zap returned %v, want %v", got, want)
					}
				}
			case 3: // protect
				lo, hi := span()
				tb.Protect(addr(lo), addr(hi), func(e PTE) PTE { return e ^ PTEWrite })
				for p := lo; p < hi; p++ {
					if e, ok := model[addr(p)]; ok {
						model[addr(p)] = e ^ PTEWrite
					}
				}
			case 4: // move, if the destination is free
				lo, hi := span()
				dst := uint64(rapid.IntRange(0, window-int(hi-lo)).Draw(rt, "dst"))
				free := true
				for p := dst; p < dst+hi-lo; p++ {
					if _, ok := model[addr(p)]; ok && (p < lo || p >= hi) {
						free = false
					}
				}
				if free {
					tb.Move(addr(lo), (hi-lo)*PageSize, addr(dst))
					model = shifted(model, addr(lo), (hi-lo)*PageSize, addr(dst))
				}
			}
			if rapid.IntRange(0, 3).Draw(rt, "free") == 0 {
				lo, hi := span()
				tb.FreeEmpty(addr(lo), addr(hi))
			}
			if got := present(tb, 0, AddressLimit); !maps.Equal(got, model) {
				rt.Fatalf("step %d: table %v\nmodel %v", step, got, model)
			}
			for a, e := range model {
				if got := tb.Lookup(a); got != e {
					rt.Fatalf("Lookup(%#x) = %v, want %v", a, got, e)
				}
			}
			if s := tb.Stats(); s.Present != len(model) {
				rt.Fatalf("Stats.Present = %d, want %d", s.Present, len(model))
			}
		}
		tb.Zap(0, AddressLimit, nil)
		tb.FreeEmpty(0, AddressLimit)
		if s := tb.Stats(); s != (TableStats{}) {
			rt.Fatalf("after zapping and freeing everything: %+v", s)
		}
	})
}
