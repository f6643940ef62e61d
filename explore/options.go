package explore

import (
	"errors"
	"runtime"

	"github.com/vmsim/vmsim/trace"
)

// Options configure Run and Test. The zero value runs 1000 PCT(3)
// schedules with seed 0.
type Options struct {
	// Strategy chooses the schedules; nil means PCT(3).
	Strategy Strategy
	// Schedules is the most schedules to run; 0 means 1000, except for
	// Exhaustive, where it means until its bound is covered.
	Schedules int
	// Seed seeds Random and PCT: the same seed gives the same
	// schedules.
	Seed uint64
	// Replay, if not "", runs only the schedule this token names (a
	// Failure's Schedule), whatever the Strategy; a malformed token, or a
	// run that parts from it, is Run's error.
	Replay string
	// MaxSteps is the most scheduling points one schedule may pass; 0
	// means 100000. Passing it fails the schedule (a livelock).
	MaxSteps int
	// Workers is how many schedules run in parallel; 0 means GOMAXPROCS.
	// It never changes the Report.
	Workers int
}

// defaults returns o with zero fields filled in, or an error for values
// that make no sense.
func (o Options) defaults() (Options, error) {
	if o.Schedules < 0 || o.MaxSteps < 0 || o.Workers < 0 {
		return o, errors.New("explore: negative Schedules, MaxSteps or Workers")
	}
	if o.Strategy == nil {
		o.Strategy = PCT(3)
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = 100000
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

// schedules returns how many schedules a numbered strategy runs.
func (o *Options) schedules() int {
	if o.Schedules == 0 {
		return 1000
	}
	return o.Schedules
}

// A Report is what a Run found. The same Options and scenario give the
// same Report, whatever Workers and GOMAXPROCS are.
type Report struct {
	Strategy  string         // the strategy that ran, as "pct(3)" or "exhaustive(2)"
	Schedules int            // schedules run
	Failed    int            // schedules that failed
	Complete  bool           // Exhaustive covered every schedule within its bound
	Outcomes  map[string]int // outcome → schedules that ended in it
	Failures  []Failure      // the first failing schedules, in schedule order (at most 10)
	// First is the replay token of the first schedule in schedule order,
	// failed or not: Options{Replay: First} runs it again, recorded.
	First string
	// Replayed is the schedule that Options.Replay ran, with its
	// timeline and trace whether it failed or not (Err is nil if it
	// passed); nil for a Run that explores.
	Replayed *Failure
}

// maxFailures bounds Report.Failures.
const maxFailures = 10

// A Failure is one failing schedule (or, as Report.Replayed, one replayed
// schedule that may have passed).
type Failure struct {
	// Schedule is the replay token: Options{Replay: Schedule} runs
	// exactly this schedule again.
	Schedule string
	// Err says why it failed: Errorf's text, a panic (with the thread,
	// step and stack), a deadlock (each thread and what it waits for),
	// MaxSteps, or an invariant Check found broken at the end.
	Err error
	// Timeline is the schedule's events as a text timeline: a column per
	// thread, a line per event, numbered by step.
	Timeline string
	// Trace holds the same events, stamped with virtual time (a
	// microsecond per step), for trace.WriteChromeJSON and
	// trace.WriteSVG.
	Trace *trace.Recorder
}
