package docs_test

import (
	"testing"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// mapFixedRace is a race to explore: thread A reads a word of anonymous
// memory (1) while thread B maps a file (whose first word is 2) over it
// with MAP_FIXED. quirks are the rules of the simulator to break.
func mapFixedRace(quirks mmap.Quirks) func(*explore.Env) {
	return func(e *explore.Env) {
		// Runs alone before each schedule: set up the address space.
		as := e.New(mmap.Config{Policy: mmap.PolicyRCURefcount, Quirks: quirks})
		addr, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		setup := as.NewThread()
		if err := setup.WriteUint64(addr, 1); err != nil {
			panic(err)
		}
		setup.Close()
		file := mmap.NewFile("new", []byte{2, 0, 0, 0, 0, 0, 0, 0}, mmap.FileOptions{})

		// The threads, run one step at a time in every order the
		// strategy chooses.
		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(addr)
			if err != nil {
				e.Errorf("A's read: %v", err) // this schedule fails
				return
			}
			e.Observe("A", v) // part of this schedule's outcome
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if _, err := t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, file, 0); err != nil {
				e.Errorf("B's mmap: %v", err)
			}
		})
	}
}

func TestMapFixedRace(t *testing.T) {
	// Every schedule with at most two preemptions; Test fails t at the
	// first failing one, with its replay token and timeline.
	r := explore.Test(t, explore.Options{Strategy: explore.Exhaustive(2)}, mapFixedRace(0))
	if !r.Complete {
		t.Fatalf("the search stopped after %d schedules", r.Schedules)
	}
	for outcome := range r.Outcomes {
		if outcome != "A=1" && outcome != "A=2" {
			t.Errorf("A read something else than the old or the new word: %s", outcome)
		}
	}
	t.Logf("%d schedules: %v", r.Schedules, r.Outcomes)
}
