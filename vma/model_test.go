package vma

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// span is the model's view of a VMA.
type span struct{ start, end, pgoff uint64 }

func spanOf(v *VMA) span { return span{v.Start, v.End, v.Pgoff} }

func spansOf(vs []*VMA) []span {
	out := make([]span, 0, len(vs))
	for _, v := range vs {
		out = append(out, spanOf(v))
	}
	return out
}

// treeModel runs a Tree against a sorted slice of spans.
type treeModel struct {
	tr      *Tree
	tx      *Txn
	pub     []span // the published layout
	cur     []span // the open Txn's layout (== pub when none is open)
	version uint64

	published, detached bool   // in the open Txn
	removed             []*VMA // VMAs removed by the open Txn, in order
	everRemoved         []*VMA // every VMA removed by a Txn that did not abort

	oldSnap  *Snapshot // a snapshot kept across later changes
	oldSpans []span

	rc *releaseCounter
	b  *countingBacking
}

// The model's addresses come from two 32-page windows, one at 0 and one
// just below AddrLimit, so that the gaps below the first VMA and above the
// last one, and the huge gap between the windows, all take part.
const windowPages = 32

func drawAddr(t *rapid.T, label string) uint64 {
	p := rapid.Uint64Range(0, windowPages).Draw(t, label+"Page")
	if rapid.Bool().Draw(t, label+"High") {
		return AddrLimit - pages(windowPages) + pages(p)
	}
	return pages(p)
}

func drawRange(t *rapid.T) (uint64, uint64) {
	start := drawAddr(t, "start")
	if start == AddrLimit {
		start -= PageSize
	}
	end := start + pages(rapid.Uint64Range(1, 8).Draw(t, "len"))
	return start, min(end, AddrLimit)
}

func (m *treeModel) free(start, end uint64) bool {
	for _, s := range m.cur {
		if s.start < end && start < s.end {
			return false
		}
	}
	return true
}

func (m *treeModel) txn() *Txn {
	if m.tx == nil {
		m.tx = m.tr.Begin()
		m.published, m.detached, m.removed = false, false, nil
	}
	return m.tx
}

func (m *treeModel) insertSpan(s span) {
	i, _ := slices.BinarySearchFunc(m.cur, s, func(a, b span) int { return cmpU(a.start, b.start) })
	m.cur = slices.Insert(m.cur, i, s)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *treeModel) Insert(t *rapid.T) {
	tx := m.txn()
	start, end := drawRange(t)
	pgoff := rapid.Uint64Range(0, 100).Draw(t, "pgoff")
	v := New(start, end, ProtRead, 0, pgoff, m.b)
	v.SetRelease(m.rc.release)
	if !m.free(start, end) {
		mustPanic(t, "over a mapped range", func() { tx.Insert(v) })
		return
	}
	tx.Insert(v)
	m.insertSpan(span{start, end, pgoff})
}

func (m *treeModel) Remove(t *rapid.T) {
	tx := m.txn()
	vs := tx.VMAs()
	if len(vs) == 0 {
		t.Skip("nothing to remove")
	}
	i := rapid.IntRange(0, len(vs)-1).Draw(t, "i")
	tx.Remove(vs[i])
	m.cur = slices.Delete(m.cur, i, i+1)
	m.removed = append(m.removed, vs[i])
}

func (m *treeModel) Unmap(t *rapid.T) {
	tx := m.txn()
	start, end := drawRange(t)
	var want []span
	var next []span
	for _, s := range m.cur {
		if s.end <= start || s.start >= end {
			next = append(next, s)
			continue
		}
		want = append(want, s)
		if s.start < start {
			next = append(next, span{s.start, start, s.pgoff})
		}
		if s.end > end {
			next = append(next, span{end, s.end, s.pgoff + (end-s.start)/PageSize})
		}
	}
	got := tx.Unmap(start, end)
	if !slices.Equal(spansOf(got), want) {
		t.Fatalf("Unmap(%#x,%#x) removed %v, want %v", start, end, spansOf(got), want)
	}
	slices.SortFunc(next, func(a, b span) int { return cmpU(a.start, b.start) })
	m.cur = next
	m.removed = append(m.removed, got...)
}

func (m *treeModel) Detach(t *rapid.T) {
	tx := m.txn()
	d := tx.Detach()
	for _, v := range d {
		if v.Attached() || m.rc.count(v) != 1 {
			t.Fatalf("Detach: %v attached=%v released %d times", v, v.Attached(), m.rc.count(v))
		}
	}
	if len(d) > 0 {
		m.detached = true
	}
}

func (m *treeModel) Publish(t *rapid.T) {
	tx := m.txn()
	tx.Publish()
	m.version++
	m.pub = slices.Clone(m.cur)
	m.published = true
	m.checkRemovedReleased(t)
}

func (m *treeModel) checkRemovedReleased(t *rapid.T) {
	for _, v := range m.removed {
		if v.Attached() || m.rc.count(v) != 1 || v.TryGet() {
			t.Fatalf("removed %v: attached=%v released %d times", v, v.Attached(), m.rc.count(v))
		}
	}
}

func (m *treeModel) Commit(t *rapid.T) {
	tx := m.txn()
	got := tx.Commit()
	m.version++
	m.tx = nil
	m.pub = slices.Clone(m.cur)
	if !slices.Equal(got, m.removed) {
		t.Fatalf("Commit returned %v, want %v", got, m.removed)
	}
	m.checkRemovedReleased(t)
	m.everRemoved = append(m.everRemoved, m.removed...)
	for _, v := range tx.t.Snapshot().VMAs() {
		if !v.Attached() || m.b.opens(v) != 1 {
			t.Fatalf("published %v: attached=%v opened %d times", v, v.Attached(), m.b.opens(v))
		}
	}
}

func (m *treeModel) Abort(t *rapid.T) {
	tx := m.txn()
	if m.published || m.detached {
		mustPanic(t, "Abort of a Txn", tx.Abort)
		return
	}
	tx.Abort()
	m.tx = nil
	m.cur = slices.Clone(m.pub)
	for _, v := range m.removed {
		if m.rc.count(v) != 0 {
			t.Fatalf("aborted removal of %v released it", v)
		}
	}
}

func (m *treeModel) KeepSnapshot(t *rapid.T) {
	m.oldSnap = m.tr.Snapshot()
	m.oldSpans = slices.Clone(m.pub)
}

// find returns the model's answers for Find, FindNext and Prev.
func modelFind(l []span, addr uint64) (find, next, prev *span) {
	for i := range l {
		s := &l[i]
		if s.start <= addr && addr < s.end {
			find = s
		}
		if next == nil && s.end > addr {
			next = s
		}
		if s.start < addr {
			prev = s
		}
	}
	return
}

type finder interface {
	Find(uint64) *VMA
	FindNext(uint64) *VMA
	Prev(uint64) *VMA
	Ascend(uint64, uint64, func(*VMA) bool)
}

func sameSpan(v *VMA, s *span) bool {
	if v == nil || s == nil {
		return v == nil && s == nil
	}
	return spanOf(v) == *s
}

func checkLookups(t *rapid.T, what string, f finder, l []span, addr uint64) {
	find, next, prev := modelFind(l, addr)
	if got := f.Find(addr); !sameSpan(got, find) {
		t.Fatalf("%s.Find(%#x) = %v, want %v", what, addr, got, find)
	}
	if got := f.FindNext(addr); !sameSpan(got, next) {
		t.Fatalf("%s.FindNext(%#x) = %v, want %v", what, addr, got, next)
	}
	if got := f.Prev(addr); !sameSpan(got, prev) {
		t.Fatalf("%s.Prev(%#x) = %v, want %v", what, addr, got, prev)
	}
}

func (m *treeModel) Lookup(t *rapid.T) {
	addr := drawAddr(t, "addr") + rapid.SampledFrom([]uint64{0, 1, PageSize - 1}).Draw(t, "off")
	checkLookups(t, "snapshot", m.tr.Snapshot(), m.pub, addr)
	if m.tx != nil {
		checkLookups(t, "txn", m.tx, m.cur, addr)
	}
}

func (m *treeModel) Ascend(t *rapid.T) {
	start, end := drawRange(t)
	start += rapid.SampledFrom([]uint64{0, 1}).Draw(t, "off")
	check := func(what string, f finder, l []span) {
		var got, want []span
		f.Ascend(start, end, func(v *VMA) bool { got = append(got, spanOf(v)); return true })
		for _, s := range l {
			if s.start < end && start < s.end {
				want = append(want, s)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s.Ascend(%#x,%#x) = %v, want %v", what, start, end, got, want)
		}
	}
	check("snapshot", m.tr.Snapshot(), m.pub)
	if m.tx != nil {
		check("txn", m.tx, m.cur)
	}
}

// modelGap is a linear scan over the gaps of l.
func modelGap(l []span, req GapRequest) (uint64, bool) {
	align := req.Align
	if align == 0 {
		align = PageSize
	}
	high := min(req.High, AddrLimit)
	var best uint64
	found := false
	prevEnd := uint64(0)
	for i := 0; i <= len(l); i++ {
		gs, ge := prevEnd, AddrLimit
		if i < len(l) {
			ge, prevEnd = l[i].start, l[i].end
		}
		lo, hi := max(gs, req.Low), min(ge, high)
		if gs >= ge || hi <= lo || hi-lo < req.Length || req.Length == 0 {
			continue
		}
		if req.TopDown {
			if a := (hi - req.Length) &^ (align - 1); a >= lo {
				best, found = a, true
			}
		} else if a := (lo + align - 1) &^ (align - 1); a <= hi && hi-a >= req.Length {
			return a, true
		}
	}
	return best, found
}

func (m *treeModel) Gap(t *rapid.T) {
	tx := m.txn()
	req := GapRequest{
		Length:  pages(rapid.Uint64Range(0, 10).Draw(t, "pages")),
		Low:     drawAddr(t, "low"),
		High:    rapid.SampledFrom([]uint64{0, AddrLimit, ^uint64(0)}).Draw(t, "highKind"),
		Align:   rapid.SampledFrom([]uint64{0, PageSize, pages(2), pages(4), pages(16), 1 << 21}).Draw(t, "align"),
		TopDown: rapid.Bool().Draw(t, "topDown"),
	}
	if req.High == 0 {
		req.High = drawAddr(t, "high")
	}
	want, wantOK := modelGap(m.cur, req)
	got, ok := tx.UnmappedArea(req)
	if got != want || ok != wantOK {
		t.Fatalf("UnmappedArea(%+v) = %#x, %v; want %#x, %v (layout %v)", req, got, ok, want, wantOK, m.cur)
	}
	if ok && !m.free(got, got+req.Length) {
		t.Fatalf("UnmappedArea returned a mapped range at %#x", got)
	}
}

func (m *treeModel) check(t *rapid.T) {
	if err := m.tr.CheckLocked(); err != nil {
		t.Fatal(err)
	}
	snap := m.tr.Snapshot()
	if got := spansOf(snap.VMAs()); !slices.Equal(got, m.pub) {
		t.Fatalf("snapshot = %v, want %v", got, m.pub)
	}
	if snap.Len() != len(m.pub) || snap.Version() != m.version {
		t.Fatalf("snapshot Len %d Version %d, want %d %d", snap.Len(), snap.Version(), len(m.pub), m.version)
	}
	if m.tx != nil {
		if got := spansOf(m.tx.VMAs()); !slices.Equal(got, m.cur) || m.tx.Len() != len(m.cur) {
			t.Fatalf("txn = %v, want %v", got, m.cur)
		}
	}
	if m.oldSnap != nil {
		if got := spansOf(m.oldSnap.VMAs()); !slices.Equal(got, m.oldSpans) {
			t.Fatalf("an old snapshot changed: %v, want %v", got, m.oldSpans)
		}
	}
}

func TestTreeModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &treeModel{tr: NewTree(), rc: newReleaseCounter(), b: newCountingBacking("f")}
		actions := map[string]func(*rapid.T){
			"":             m.check,
			"Insert":       m.Insert,
			"Remove":       m.Remove,
			"Unmap":        m.Unmap,
			"Detach":       m.Detach,
			"Publish":      m.Publish,
			"Commit":       m.Commit,
			"Abort":        m.Abort,
			"KeepSnapshot": m.KeepSnapshot,
			"Lookup":       m.Lookup,
			"Ascend":       m.Ascend,
			"Gap":          m.Gap,
		}
		// Inserts more often than the rest, so that layouts get full.
		actions["Insert2"] = m.Insert
		actions["Insert3"] = m.Insert
		// Several rounds of Repeat (about 30 actions each) make longer
		// histories than one.
		for range 4 {
			t.Repeat(actions)
		}
		for _, v := range m.everRemoved {
			if m.rc.count(v) != 1 {
				t.Fatalf("%v released %d times, want exactly 1", v, m.rc.count(v))
			}
		}
	})
}
