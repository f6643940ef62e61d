package explore

import (
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/vma"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// comparable strips a Report down to what must not depend on Workers:
// everything but the failures' recorders, whose events are compared
// through the timelines.
func comparable(r *Report) Report {
	c := *r
	c.Failures = nil
	for _, f := range r.Failures {
		c.Failures = append(c.Failures, Failure{Schedule: f.Schedule, Err: errors.New(f.Err.Error()), Timeline: f.Timeline})
	}
	return c
}

// TestSameOptionsSameReport: the same Options give the same Report, run
// after run, whatever Workers and GOMAXPROCS are.
func TestSameOptionsSameReport(t *testing.T) {
	strategies := []Options{
		{Strategy: Random(), Schedules: 150, Seed: 7},
		{Strategy: PCT(3), Schedules: 150, Seed: 7},
		{Strategy: Exhaustive(1)},
		{Strategy: Exhaustive(2), Schedules: 200},
	}
	// Failing scenarios, so that failures, tokens and timelines are
	// compared too: one whose threads signal through memory, and the
	// fork race, whose failures quote anon_vma and frame numbers.
	scenarios := map[string]func(*Env){
		"munmap-flag": munmapFlagScenario(mmap.PolicyRCURefcount, mmap.QuirkNoShootdown),
		"fork":        forkScenario(mmap.PolicyPerVMALock, mmap.QuirkForkNoVMALock),
	}
	for _, o := range strategies {
		for name, scenario := range scenarios {
			t.Run(o.Strategy.String()+"/"+name, func(t *testing.T) { sameReport(t, o, scenario) })
		}
	}
}

// sameReport runs scenario under o with several Workers and GOMAXPROCS
// and checks the Reports are equal.
func sameReport(t *testing.T, o Options, scenario func(*Env)) {
	var first Report
	for i, workers := range []int{1, 2, 1, 3} {
		if i == 3 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		}
		o.Workers = workers
		r, err := Run(o, scenario)
		if err != nil {
			t.Fatal(err)
		}
		got := comparable(r)
		if i == 0 {
			first = got
			if r.Failed == 0 {
				t.Fatalf("the scenario should fail: %d failed, outcomes %v", r.Failed, r.Outcomes)
			}
			continue
		}
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("run %d (Workers %d) differs:\n%+v\nfirst:\n%+v", i, workers, got, first)
		}
	}
}

// TestReplayReproducesFailures: every failure's token replays to the same
// error and the same timeline, under any strategy.
func TestReplayReproducesFailures(t *testing.T) {
	scenario := munmapReadScenario(mmap.PolicyPerVMALock, mmap.QuirkNoGracePeriod)
	r, err := Run(Options{Strategy: PCT(3), Schedules: 400, Seed: 3}, scenario)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) == 0 {
		t.Fatal("no failure to replay")
	}
	for _, f := range r.Failures {
		again, err := Run(Options{Replay: f.Schedule, Strategy: Random()}, scenario)
		if err != nil {
			t.Fatalf("replay of %s: %v", f.Schedule, err)
		}
		if again.Schedules != 1 || again.Failed != 1 {
			t.Fatalf("replay of %s: %d schedules, %d failed", f.Schedule, again.Schedules, again.Failed)
		}
		g := again.Failures[0]
		if g.Err.Error() != f.Err.Error() || g.Timeline != f.Timeline {
			t.Fatalf("replay of %s differs:\n%v\n%s\nwas:\n%v\n%s", f.Schedule, g.Err, g.Timeline, f.Err, f.Timeline)
		}
	}
}

// TestBadTokens: a malformed token, or one the run parts from, is Run's
// error, naming the step where they parted.
func TestBadTokens(t *testing.T) {
	scenario := fixedScenario(mmap.PolicyRCURefcount, 0)
	for _, tok := range []string{"", "v2.AAAA", "v1.!!!", "v1.AQ", "v1.AwAC"} {
		if _, err := Run(Options{Replay: tok + " "}, scenario); err == nil {
			t.Errorf("token %q accepted", tok)
		} else if tok != "" && !errors.Is(err, errBadToken) {
			t.Errorf("token %q: %v, want a malformed-token error", tok, err)
		}
	}
	// A token of another scenario: more threads, other choices.
	r, err := Run(Options{Strategy: Exhaustive(1), Schedules: 50}, munmapFlagScenario(mmap.PolicyRCURefcount, mmap.QuirkNoShootdown))
	if err != nil || len(r.Failures) == 0 {
		t.Fatal(err, r.Failed)
	}
	_, err = Run(Options{Replay: r.Failures[0].Schedule}, scenario)
	var re *ReplayError
	if !errors.As(err, &re) || re.Step <= 0 {
		t.Fatalf("a foreign token gave %v, want a ReplayError naming a step", err)
	}
	// A token that names a thread that does not exist, at every step of
	// a real run (the first, and those right after a thread ends, are
	// decided outside any thread): an error each time, never a panic.
	first, err := Run(Options{Strategy: Exhaustive(0)}, scenario)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Run(Options{Replay: first.First}, scenario)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(again.Replayed.Timeline, "· ") + 1 // a point per step, and the first
	for step := 1; step <= n; step++ {
		tok := (&schedule{steps: n, choices: []choice{{step: step, thread: 99}}}).token()
		if _, err := Run(Options{Replay: tok}, scenario); err == nil {
			t.Fatalf("a token choosing thread 99 at step %d replayed", step)
		}
	}
	if _, err := Run(Options{Replay: (&schedule{steps: 5, choices: []choice{{step: 0, thread: 0}}}).token()}, scenario); !errors.Is(err, errBadToken) {
		t.Fatalf("a choice at step 0: %v, want a malformed-token error", err)
	}
	// A token whose choices fit but whose run was longer.
	ok := (&schedule{steps: 100000}).token()
	if _, err := Run(Options{Replay: ok}, scenario); !errors.As(err, &re) || !strings.Contains(err.Error(), "steps") {
		t.Fatalf("a token of a longer run gave %v", err)
	}
}

// TestMaxStepsEndsLivelock: a thread spinning on a flag nobody sets fails
// its schedule at MaxSteps instead of running forever.
func TestMaxStepsEndsLivelock(t *testing.T) {
	r, err := Run(Options{Strategy: Random(), Schedules: 3, MaxSteps: 500}, func(e *Env) {
		as := e.New(mmap.Config{})
		flag := mapAnon(as, 1, 0)
		e.Go("spinner", as, func(t *mmap.Thread) {
			for {
				if v, _ := t.ReadUint64(flag); v != 0 {
					return
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var me *sched.MaxStepsError
	if r.Failed != 3 || !errors.As(r.Failures[0].Err, &me) || !strings.Contains(me.Error(), "spinner at tlb.hit") {
		t.Fatalf("%d failed; first: %v", r.Failed, r.Failures[0].Err)
	}
}

// waitingBacking is a test backing whose Fault waits, through the Sched,
// until the word at flag reads non-zero in a frame set by the test: a
// backing that sleeps on something only another thread provides.
type waitingBacking struct {
	ready *bool
}

func (waitingBacking) Name() string   { return "waiting" }
func (waitingBacking) Open(*vma.VMA)  {}
func (waitingBacking) Close(*vma.VMA) {}
func (b waitingBacking) Fault(vf *fault.VMFault) fault.Result {
	vf.Sched().Wait("waiting.fault", func() bool { return *b.ready })
	p, err := vf.Frames().Alloc()
	if err != nil {
		return fault.OOM
	}
	vf.Page, vf.Owned = p, true
	return 0
}

// TestDeadlockReported: A faults under the mmap read lock into a backing
// that waits for B; B needs the mmap write lock before it would let A go.
// The schedule deadlocks, and the report says who waits for what.
func TestDeadlockReported(t *testing.T) {
	r, err := Run(Options{Strategy: Exhaustive(0)}, func(e *Env) {
		as := e.New(mmap.Config{Policy: mmap.PolicyMmapLock})
		ready := false
		addr, err := as.MmapBacking(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate, waitingBacking{&ready}, 0)
		if err != nil {
			panic(err)
		}
		e.Go("A", as, func(t *mmap.Thread) { t.ReadUint64(addr) })
		e.Go("B", as, func(t *mmap.Thread) {
			t.Mprotect(addr, mmap.PageSize, mmap.ProtRead)
			ready = true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var de *sched.DeadlockError
	for _, f := range r.Failures {
		if errors.As(f.Err, &de) {
			msg := de.Error()
			for _, want := range []string{"A waits for waiting.fault", "B waits for write lock mmap_lock"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q does not say %q", msg, want)
				}
			}
			return
		}
	}
	t.Fatalf("no deadlock among %d schedules (%d failed)", r.Schedules, r.Failed)
}

// TestPanicFailsOneSchedule: a panic in a body fails that schedule only,
// naming the thread and the step; the run goes on.
func TestPanicFailsOneSchedule(t *testing.T) {
	r, err := Run(Options{Strategy: Exhaustive(1)}, func(e *Env) {
		as := e.New(mmap.Config{})
		p := mapAnon(as, 1, oldWord)
		e.Go("A", as, func(t *mmap.Thread) {
			if v, _ := t.ReadUint64(p); v == newWord {
				panic("A saw the new value")
			}
		})
		e.Go("B", as, func(t *mmap.Thread) { t.WriteUint64(p, newWord) })
	})
	if err != nil {
		t.Fatal(err)
	}
	var pe *sched.PanicError
	if r.Failed == 0 || r.Failed == r.Schedules || !errors.As(r.Failures[0].Err, &pe) || pe.Thread != "A" || pe.Step == 0 {
		t.Fatalf("%d of %d failed; first: %v", r.Failed, r.Schedules, r.Failures[0].Err)
	}
	if r.Outcomes[""] != r.Schedules-r.Failed {
		t.Fatalf("outcomes %v: the schedules that did not panic should all end in the empty outcome", r.Outcomes)
	}
}

// TestOutcomeFormat: keys sorted, a key observed twice keeps both values
// in order, values formatted with fmt.Sprint.
func TestOutcomeFormat(t *testing.T) {
	r, err := Run(Options{Strategy: Exhaustive(0)}, func(e *Env) {
		as := e.New(mmap.Config{})
		e.Go("A", as, func(*mmap.Thread) {
			e.Observe("z", 1)
			e.Observe("a", "x")
			e.Observe("z", true)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a=x z=1 z=true": 1}; !reflect.DeepEqual(r.Outcomes, want) {
		t.Fatalf("outcomes %v, want %v", r.Outcomes, want)
	}
}

// TestScenarioMistakes: a bad Config or Env.Go on a foreign address space
// fails the schedule with a clear message.
func TestScenarioMistakes(t *testing.T) {
	for name, scenario := range map[string]func(*Env){
		"bad config": func(e *Env) { e.New(mmap.Config{Policy: 99}) },
		"foreign":    func(e *Env) { as, _ := mmap.New(mmap.Config{}); e.Go("A", as, func(*mmap.Thread) {}) },
	} {
		r, err := Run(Options{Strategy: Exhaustive(0)}, scenario)
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed != 1 || !strings.Contains(r.Failures[0].Err.Error(), "scenario") {
			t.Errorf("%s: %d failed, %v", name, r.Failed, r.Failures)
		}
	}
}

// TestExhaustiveCountsSchedules checks the search against an independent
// count: threads that each take n steps with nothing shared but the
// scheduler have exactly as many schedules within a preemption bound as
// countSchedules computes.
func TestExhaustiveCountsSchedules(t *testing.T) {
	for _, c := range []struct{ threads, reads, bound int }{
		{2, 2, 0}, {2, 3, 1}, {3, 2, 1}, {2, 4, 2}, {3, 3, 2},
	} {
		r, err := Run(Options{Strategy: Exhaustive(c.bound)}, func(e *Env) {
			as := e.New(mmap.Config{})
			p := mapAnon(as, 1, oldWord)
			for i := range c.threads {
				e.Go(string(rune('A'+i)), as, func(t *mmap.Thread) {
					for range c.reads {
						t.ReadUint64(p)
					}
				})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		segments := make([]int, c.threads)
		for i := range segments {
			segments[i] = c.reads + 1 // a point per read, and the end
		}
		if want := countSchedules(segments, -1, c.bound); r.Schedules != want || !r.Complete {
			t.Errorf("%+v: %d schedules (complete %v), want %d", c, r.Schedules, r.Complete, want)
		}
	}
}

// countSchedules counts the ways to run threads with left[i] steps to go,
// cur having taken the last step, within bound preemptions: at each step
// with two or more runnable threads, switching away from a runnable cur
// costs one.
func countSchedules(left []int, cur, bound int) int {
	var runnable []int
	for i, n := range left {
		if n > 0 {
			runnable = append(runnable, i)
		}
	}
	if len(runnable) == 0 {
		return 1
	}
	total := 0
	for _, i := range runnable {
		cost := 0
		if cur >= 0 && left[cur] > 0 && i != cur {
			cost = 1
		}
		if cost > bound {
			continue
		}
		left[i]--
		total += countSchedules(left, i, bound-cost)
		left[i]++
	}
	return total
}

// TestFirstAndReplayed: Report.First replays the first schedule, and a
// replay reports its run, recorded, even when it passes.
func TestFirstAndReplayed(t *testing.T) {
	scenario := fixedScenario(mmap.PolicyRCURefcount, 0)
	r, err := Run(Options{Strategy: Exhaustive(1)}, scenario)
	if err != nil || r.Failed > 0 || r.First == "" {
		t.Fatalf("%v, %d failed, first %q", err, r.Failed, r.First)
	}
	again, err := Run(Options{Replay: r.First}, scenario)
	if err != nil {
		t.Fatal(err)
	}
	rep := again.Replayed
	if rep == nil || rep.Err != nil || rep.Schedule != r.First || !strings.Contains(rep.Timeline, "tlb.") || rep.Trace == nil {
		t.Fatalf("replay of the first schedule: %+v", rep)
	}
	if r.Replayed != nil {
		t.Fatal("an exploring Run reports a replayed schedule")
	}
}

// TestForeignMemoryAndFile: a Memory or File made outside the scenario
// serves one schedule at a time; the others are refused cleanly (a
// failing schedule, never a crash or another schedule's address spaces
// closed), and once the run is over both are free again.
func TestForeignMemoryAndFile(t *testing.T) {
	mem := mmap.NewMemory(64)
	file := fileOf("shared", 1, oldWord)
	scenario := func(e *Env) {
		as := e.New(mmap.Config{Memory: mem})
		p, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate, file, 0)
		if err != nil {
			e.Errorf("mmap: %v", err)
			return
		}
		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(p)
			e.Observe("A", class(v, err))
		})
	}
	// One after the other, each schedule finds them free.
	r, err := Run(Options{Strategy: Random(), Schedules: 40, Workers: 1}, scenario)
	if err != nil || r.Failed > 0 || r.Outcomes["A=old"] != 40 {
		t.Fatalf("Workers 1: %v; %d failed, outcomes %v", err, r.Failed, r.Outcomes)
	}
	// Two at a time, a schedule may find them taken: it fails, and since
	// that depends on the other worker, its replay does not fail the
	// same way, which Run reports rather than a misleading timeline.
	r, err = Run(Options{Strategy: Random(), Schedules: 40, Workers: 2}, scenario)
	switch {
	case err != nil:
		if !strings.Contains(err.Error(), "replay") {
			t.Fatalf("Workers 2: %v", err)
		}
	default:
		for _, f := range r.Failures {
			if !strings.Contains(f.Err.Error(), "another run") {
				t.Fatalf("Workers 2: a schedule failed otherwise: %v", f.Err)
			}
		}
	}
	// After the run, free-running code may use both again.
	as, err := mmap.New(mmap.Config{Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	if _, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate, file, 0); err != nil {
		t.Fatalf("the file after the run: %v", err)
	}
}

// TestThreadsOfAForkedChild: the scenario may fork, give the child
// controlled threads, and leave it to be checked and closed with the rest.
func TestThreadsOfAForkedChild(t *testing.T) {
	r, err := Run(Options{Strategy: Exhaustive(2)}, func(e *Env) {
		as := e.New(mmap.Config{})
		p := mapAnon(as, 1, oldWord)
		child, err := as.Fork()
		if err != nil {
			panic(err)
		}
		for name, space := range map[string]*mmap.AddressSpace{"parent": as, "child": child} {
			e.Go(name, space, func(t *mmap.Thread) {
				if err := t.WriteUint64(p, newWord); err != nil {
					e.Errorf("%s: %v", name, err)
				}
				v, err := t.ReadUint64(p)
				e.Observe(name, class(v, err))
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed > 0 || !r.Complete {
		t.Fatalf("%d failed; first: %s", r.Failed, firstFailure(r))
	}
	if got := outcomes(r); !slices.Equal(got, []string{"child=new parent=new"}) {
		t.Fatalf("outcomes %q: each process writes its own copy", got)
	}
}
