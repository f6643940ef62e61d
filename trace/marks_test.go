package trace

import (
	"math/rand/v2"
	"testing"
)

// Random Begin/End soup: whatever order events arrive in, buildMarks yields
// properly nested slices per track, keeps every recorded event exactly once,
// and closes every slice it opens.
func TestBuildMarksAlwaysNests(t *testing.T) {
	kinds := []Kind{SyscallBegin, SyscallEnd, FaultBegin, FaultEnd, ShootdownBegin, ShootdownEnd,
		GraceBegin, GraceEnd, Load, Note}
	names := []string{"mmap", "munmap", "mprotect"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var evs []Event
		for i := range rng.IntN(40) {
			evs = append(evs, Event{Time: int64(i / 2), Track: rng.IntN(3),
				Kind: kinds[rng.IntN(len(kinds))], Name: names[rng.IntN(len(names))], Value: uint64(i)})
		}
		marks := buildMarks(evs)
		stacks := map[int][]mark{}
		seen := map[uint64]int{} // recorded events (by Value) that appear as themselves
		var last int64
		for _, m := range marks {
			if m.time < last {
				t.Fatalf("round %d: marks go back in time", round)
			}
			last = m.time
			switch m.phase {
			case markBegin:
				if m.depth != len(stacks[m.track]) {
					t.Fatalf("round %d: B at depth %d on a stack of %d", round, m.depth, len(stacks[m.track]))
				}
				stacks[m.track] = append(stacks[m.track], m)
				if m.note == "" {
					seen[m.begin.Value]++
				}
			case markEnd:
				st := stacks[m.track]
				if len(st) == 0 {
					t.Fatalf("round %d: E with nothing open", round)
				}
				top := st[len(st)-1]
				if top.begin.Value != m.begin.Value || m.depth != len(st)-1 {
					t.Fatalf("round %d: E for %+v closes %+v", round, m.begin, top.begin)
				}
				if bk, ok := m.ev.Kind.beginOf(); m.note == "" && (!ok || bk != m.begin.Kind) {
					t.Fatalf("round %d: %v recorded as the end of %v", round, m.ev.Kind, m.begin.Kind)
				}
				stacks[m.track] = st[:len(st)-1]
				if m.note == "" {
					seen[m.ev.Value]++
				}
			case markInstant:
				seen[m.ev.Value]++
			}
		}
		for tr, st := range stacks {
			if len(st) != 0 {
				t.Fatalf("round %d: track %d left %d slices open", round, tr, len(st))
			}
		}
		for _, e := range evs {
			if seen[e.Value] != 1 {
				t.Fatalf("round %d: event %+v appears %d times", round, e, seen[e.Value])
			}
		}
	}
}
