package explore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
)

// An Env is one schedule: the scenario function receives it, builds the
// schedule's address spaces with New and declares its threads with Go.
//
// Concurrency: New, Go and Finally may be called only by the scenario
// function, before it returns. Observe and Errorf may be called by the
// scenario, by thread bodies and by Finally functions: in a schedule only
// one of them runs at a time.
type Env struct {
	s       *sched.Sched
	rec     *trace.Recorder // non-nil when the run records a timeline
	started bool            // the scenario has returned

	spaces  []*mmap.AddressSpace
	finally []func()
	threads map[*sched.Thread]*mmap.Thread // for their trace tracks
	tracks  map[*sched.Thread]*trace.Buffer

	obs  map[string][]string
	errs []string
}

// scenarioError is a mistake in the scenario (bad Config, Go after the
// scenario returned): it fails the schedule with its message.
type scenarioError struct{ msg string }

func (e *scenarioError) Error() string { return "explore: scenario: " + e.msg }

// New returns a controlled address space: mmap.New(cfg) with cfg.Sched set
// to this schedule's (and cfg.Trace to the schedule's recorder when a
// timeline is being recorded). After the schedule, once every thread has
// ended and every Finally function has run, every address space still
// open on its Memory (it, and the children its threads forked) is checked
// with Check, a broken invariant failing the schedule, and closed. A cfg
// that mmap.New refuses, or one with Sched already set, fails the
// schedule.
func (e *Env) New(cfg mmap.Config) *mmap.AddressSpace {
	if e.started {
		panic(&scenarioError{"Env.New after the scenario returned"})
	}
	if cfg.Sched != nil {
		panic(&scenarioError{"Config.Sched is set by Env.New"})
	}
	cfg.Sched = e.s
	if e.rec != nil {
		cfg.Trace = e.rec
	}
	as, err := mmap.New(cfg)
	if err != nil {
		panic(&scenarioError{err.Error()})
	}
	e.spaces = append(e.spaces, as)
	return as
}

// Go declares a controlled thread named name, a new thread of as (made by
// Env.New, or forked from such an address space by the scenario), that
// runs body once the scenario has returned and is closed when body
// returns. Threads are numbered in the order Go is
// called, from 0; names appear in timelines and failure reports.
func (e *Env) Go(name string, as *mmap.AddressSpace, body func(t *mmap.Thread)) {
	if e.started {
		panic(&scenarioError{"Env.Go after the scenario returned"})
	}
	if as.Config().Sched != e.s {
		panic(&scenarioError{"Env.Go with an address space that is not this schedule's (made by Env.New, or forked from one)"})
	}
	t := as.NewThreadNamed(name)
	st := e.s.Go(name, func() {
		body(t)
		t.Close()
	})
	e.threads[st] = t
}

// Observe adds key=value to the schedule's outcome. value is formatted
// with fmt.Sprint; a key observed twice keeps both values, in order.
func (e *Env) Observe(key string, value any) {
	e.obs[key] = append(e.obs[key], fmt.Sprint(value))
}

// Errorf fails the schedule with a message formatted as fmt.Sprintf; the
// schedule runs on to its end.
func (e *Env) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// Finally registers f to run after every thread of the schedule has
// ended, before the address spaces are checked and closed, in the order
// registered. It runs outside the schedule, alone: points pass, and it may
// read memory through threads of its own and call Observe and Errorf. It
// does not run for a schedule that deadlocked, panicked or passed
// MaxSteps.
func (e *Env) Finally(f func()) {
	if e.started {
		panic(&scenarioError{"Env.Finally after the scenario returned"})
	}
	e.finally = append(e.finally, f)
}

// allSpaces returns every address space open on the memories of those
// New made, in the order they joined them: the schedule's own, and the
// children its threads forked.
func (e *Env) allSpaces() []*mmap.AddressSpace {
	var mems []*mmap.Memory
	var out []*mmap.AddressSpace
	for _, as := range e.spaces {
		m := as.Config().Memory
		if slices.Contains(mems, m) {
			continue
		}
		mems = append(mems, m)
		out = append(out, m.AddressSpaces()...)
	}
	return out
}

// outcome returns the observations as "key=value ...", sorted by key.
func (e *Env) outcome() string {
	keys := make([]string, 0, len(e.obs))
	for k := range e.obs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range e.obs[k] {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k + "=" + v)
		}
	}
	return b.String()
}

// track returns the trace track of thread t: its mmap thread's, or one of
// its own for threads of the simulator (the RCU callback worker).
func (e *Env) track(t *sched.Thread) *trace.Buffer {
	if mt, ok := e.threads[t]; ok && mt.Track() != nil {
		return mt.Track()
	}
	b, ok := e.tracks[t]
	if !ok {
		b = e.rec.Track(t.Name())
		e.tracks[t] = b
	}
	return b
}

// onStep records a scheduling point on its thread's track.
func (e *Env) onStep(_ int, t *sched.Thread, point string) {
	if t != nil && point != "" {
		e.track(t).Emit(trace.Event{Kind: trace.Point, Arg: point})
	}
}
