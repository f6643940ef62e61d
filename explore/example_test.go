package explore_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// Thread A reads a word of anonymous memory while thread B maps a file over
// it with MAP_FIXED. Every schedule with at most two preemptions is run,
// under the RCU + per-VMA refcount policy: A reads the old or the new
// contents, and never faults.
func Example() {
	scenario := func(e *explore.Env) {
		as := e.New(mmap.Config{Policy: mmap.PolicyRCURefcount})
		addr, _ := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		setup := as.NewThread()
		setup.WriteUint64(addr, 1) // old
		setup.Close()
		file := mmap.NewFile("new", []byte{2, 0, 0, 0, 0, 0, 0, 0}, mmap.FileOptions{})

		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(addr)
			var sig *mmap.SignalError
			if errors.As(err, &sig) {
				e.Observe("A", sig.Signo)
				return
			}
			e.Observe("A", v)
		})
		e.Go("B", as, func(t *mmap.Thread) {
			t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, file, 0)
		})
	}
	r, err := explore.Run(explore.Options{Strategy: explore.Exhaustive(2)}, scenario)
	if err != nil {
		panic(err)
	}
	fmt.Println("complete:", r.Complete, "failed:", r.Failed)
	fmt.Println("outcomes:", slices.Sorted(maps.Keys(r.Outcomes)))
	// Output:
	// complete: true failed: 0
	// outcomes: [A=1 A=2]
}

// A quirk that publishes the unmap half of a MAP_FIXED on its own, with no
// fallback to the mmap lock, lets A's fault find no VMA: a spurious
// SIGSEGV. PCT finds the schedule, and its token replays it.
func Example_replay() {
	scenario := func(e *explore.Env) {
		as := e.New(mmap.Config{Quirks: mmap.QuirkNonAtomicFixedReplace | mmap.QuirkNoLockFallback})
		addr, _ := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		file := mmap.NewFile("new", make([]byte, mmap.PageSize), mmap.FileOptions{})
		e.Go("A", as, func(t *mmap.Thread) {
			if _, err := t.ReadUint64(addr); err != nil {
				e.Errorf("A: %v", err)
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, file, 0)
		})
	}
	r, _ := explore.Run(explore.Options{Strategy: explore.PCT(3), Schedules: 200, Seed: 1}, scenario)
	first := r.Failures[0]
	fmt.Println(first.Err)

	again, _ := explore.Run(explore.Options{Replay: first.Schedule}, scenario)
	fmt.Println(again.Failures[0].Err)
	// Output:
	// A: SIGSEGV (SEGV_MAPERR) at 0x7ffff7ffe000
	// A: SIGSEGV (SEGV_MAPERR) at 0x7ffff7ffe000
}
