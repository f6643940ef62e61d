package sched

import (
	"fmt"
	"runtime/debug"
)

// StepNanos is how far the virtual clock of a controlled run advances at
// each step: one microsecond.
const StepNanos = 1000

// A Controller decides, at each step where more than one thread could
// take the next step, which one does. Package explore implements it with
// its strategies (random, PCT, bounded exhaustive search, replay).
//
// Choose is called one call at a time, on the goroutine that drives the
// run at that moment (see Sched). step is the number of the step about to
// be taken
// (1 for the first); cur is the thread that reached the point, or nil at
// the first step; it is in runnable unless it blocked, slept or ended
// there. runnable holds at least two threads, in ID order, and is only
// valid during the call. Choose must return one of them; a panic, or any
// other thread, ends the run with a *ControllerError.
type Controller interface {
	Choose(step int, cur *Thread, runnable []*Thread) *Thread
}

// Options configures a Sched.
type Options struct {
	// Controller picks the next thread at each choice; nil keeps the
	// running thread while it can run, else takes the runnable thread
	// with the lowest ID.
	Controller Controller
	// MaxSteps ends the run with a *MaxStepsError when it would take
	// more steps; 0 means no limit.
	MaxSteps int
	// Pool, if not nil, lends the run goroutines that earlier runs'
	// threads have finished with, and takes back this run's: their stacks
	// have grown already. A Pool serves one run at a time.
	Pool *Pool
	// OnStep, if not nil, is called at every step, before the choice,
	// with the step's number, the thread that reached the point (nil at
	// the first step) and the point's name. It runs on that thread's
	// goroutine, one call at a time.
	OnStep func(step int, t *Thread, point string)
}

// phase is where a Sched is in its life.
type phase uint8

const (
	setup    phase = iota // before Run: no thread is current
	running               // inside Run: exactly one thread runs
	finished              // Run has returned
)

// A Sched is the scheduler of one controlled run: it owns the run's
// threads and lets exactly one of them run at a time, choosing at every
// point which one takes the next step.
//
// Concurrency: a Sched is driven by its threads, which hand control to one
// another, so at any moment only one goroutine touches it: before Run, the
// goroutine that sets up the run; during Run, the current thread; after
// Run, Run's caller. Its methods must be called only from that goroutine.
// A nil *Sched is valid everywhere and means free-running.
type Sched struct {
	opts    Options
	phase   phase
	threads []*Thread // in ID order
	cur     *Thread   // the thread running now; nil outside Run
	step    int       // steps taken
	clock   int64     // virtual nanoseconds
	users   int       // non-daemon threads not yet ended

	runnable []*Thread // scratch for decide
	// handoff is the thread a thread that stops running hands control
	// to: Run's loop resumes it. nil means the run is over.
	handoff  *Thread
	failure  error // why the run ended early; nil if it did not
	aborting bool  // teardown: stopped threads unwind
}

// New returns a Sched in its setup phase, with no threads.
func New(opts Options) *Sched {
	return &Sched{opts: opts}
}

// Running reports whether s is controlling a run now: false for a nil
// Sched, and before and after Run.
func (s *Sched) Running() bool { return s != nil && s.phase == running }

// Now returns the virtual time of a controlled run in nanoseconds: one
// microsecond per step taken so far, plus the jumps made to wake sleepers.
// It is 0 before Run.
func (s *Sched) Now() int64 { return s.clock }

// Steps returns the number of steps taken so far.
func (s *Sched) Steps() int { return s.step }

// Threads returns the run's threads in ID order. The slice is s's own and
// grows as threads are created; do not modify it.
func (s *Sched) Threads() []*Thread { return s.threads }

// Go creates a thread that will run body. Created before Run (in the setup
// phase), it starts when the run does; created by a running thread, it
// may take any later step. After Run, Go panics. Threads are numbered in
// creation order from 0, which is what makes a run repeatable.
func (s *Sched) Go(name string, body func()) *Thread { return s.newThread(name, body, false) }

// GoDaemon is Go for a background thread (the RCU callback worker): the run
// ends once every other thread has returned and the daemons can take no
// more steps, and a daemon still blocked then is unwound. A daemon
// counts as a thread for deadlock detection only while other threads
// live.
func (s *Sched) GoDaemon(name string, body func()) *Thread { return s.newThread(name, body, true) }

func (s *Sched) newThread(name string, body func(), daemon bool) *Thread {
	if s.phase == finished {
		panic("sched: Go after the run has finished")
	}
	t := &Thread{s: s, id: len(s.threads), name: name, body: body, daemon: daemon}
	s.threads = append(s.threads, t)
	if !daemon {
		s.users++
	}
	return t
}

// Run runs the threads until every non-daemon thread has returned and
// every daemon is blocked, or until the run fails: a deadlock
// (*DeadlockError), more than MaxSteps steps (*MaxStepsError), a panic
// in a thread (*PanicError) or in the Controller (*ControllerError). On failure the threads still alive are
// unwound (their deferred calls run, in abort mode), so no goroutine
// outlives Run; the state they leave is not usable. Run must be called
// once, from the goroutine that set up s.
//
// Threads are coroutines of Run's goroutine (iter.Pull): switching from
// one to another is a direct switch of goroutines, which never wakes
// another processor, so a run costs the same whatever GOMAXPROCS is.
func (s *Sched) Run() error {
	if s.phase != setup {
		panic("sched: Run called twice")
	}
	s.phase = running
	for next := s.decide(nil); next != nil; next = s.handoff {
		s.cur, s.handoff = next, nil
		next.resume(s.opts.Pool)
	}
	s.teardown()
	s.cur = nil
	s.phase = finished
	return s.failure
}

// teardown unwinds every thread that was started and has not ended, one
// at a time.
func (s *Sched) teardown() {
	s.aborting = true
	for _, t := range s.threads {
		if c := t.carrier; c != nil {
			s.cur, t.carrier = t, nil
			c.stop()
		}
	}
	s.aborting = false
}

// fail records why the run ends early; the first reason wins.
func (s *Sched) fail(err error) {
	if s.failure == nil {
		s.failure = err
	}
}

// decide takes a step: it picks the thread to run next, or returns nil
// when the run is over (finished, or failed with s.failure set). t is the
// thread that reached a point, with its state already updated; nil at the
// first step.
func (s *Sched) decide(t *Thread) *Thread {
	s.step++
	s.clock += StepNanos
	if f := s.opts.OnStep; f != nil {
		point := ""
		if t != nil {
			point = t.at
		}
		f(s.step, t, point)
	}
	if s.opts.MaxSteps > 0 && s.step > s.opts.MaxSteps {
		s.fail(&MaxStepsError{Steps: s.opts.MaxSteps, Threads: s.describe()})
		return nil
	}
	for {
		r := s.runnable[:0]
		for _, u := range s.threads {
			if u.canRun() {
				r = append(r, u)
			}
		}
		s.runnable = r
		switch {
		case len(r) == 0:
			if s.wakeSleepers() {
				continue
			}
			if s.users > 0 {
				s.fail(&DeadlockError{Step: s.step, Threads: s.describe()})
			}
			return nil
		case s.users == 0:
			// Only daemons are left: let them finish what they have,
			// in ID order. These steps are not choices.
			return r[0]
		case len(r) == 1:
			return r[0]
		}
		if c := s.opts.Controller; c != nil {
			return s.choose(c, t, r)
		}
		if t != nil && t.canRun() {
			return t
		}
		return r[0]
	}
}

// choose asks the Controller, and ends the run with a *ControllerError if
// it panics or chooses a thread that cannot run: decide runs on Run's
// goroutine and in a thread's last deferred call too, where a panic would
// escape the run.
func (s *Sched) choose(c Controller, t *Thread, r []*Thread) (next *Thread) {
	defer func() {
		if v := recover(); v != nil {
			s.fail(&ControllerError{Step: s.step, Value: v})
			next = nil
		}
	}()
	next = c.Choose(s.step, t, r)
	if next == nil || next.s != s || !next.canRun() {
		panic(fmt.Sprintf("sched: the Controller chose %v, which cannot run", next))
	}
	return next
}

// wakeSleepers advances the clock to the earliest wake-up of a sleeping
// thread; it reports false if no thread sleeps.
func (s *Sched) wakeSleepers() bool {
	earliest := int64(-1)
	for _, u := range s.threads {
		if u.state == sleeping && (earliest < 0 || u.wakeAt < earliest) {
			earliest = u.wakeAt
		}
	}
	if earliest < 0 {
		return false
	}
	s.clock = max(s.clock, earliest)
	return true
}

// describe returns the state of every thread, for failure reports.
func (s *Sched) describe() []ThreadState {
	out := make([]ThreadState, len(s.threads))
	for i, u := range s.threads {
		out[i] = ThreadState{Name: u.name, ID: u.id, Daemon: u.daemon, Ended: u.state == ended, At: u.at, Waits: u.waiting()}
	}
	return out
}

// yield is a step taken by t, the current thread, whose state says
// whether it can go on: it returns when t is chosen to run again. When
// the run is over meanwhile, t unwinds instead.
func (s *Sched) yield(t *Thread) {
	next := s.decide(t)
	if next == t {
		return
	}
	s.handoff = next
	if !t.carrier.suspend() || s.aborting {
		panic(errAbort)
	}
}

// run runs t's body on its carrier, then the decision that ends t's last
// step. A panic ends the run; errAbort is the teardown's.
func (t *Thread) run() {
	s := t.s
	defer func() {
		r := recover()
		if r != nil && r != errAbort {
			s.fail(&PanicError{Thread: t.name, Step: s.step, At: t.at, Value: r, Stack: string(debug.Stack())})
		}
		t.state = ended
		if !t.daemon {
			s.users--
		}
		s.handoff = nil
		if r == nil && !s.aborting {
			t.at = "end"
			s.handoff = s.decide(t)
		}
	}()
	t.body()
}

// errAbort unwinds a thread whose run is over; main recovers it.
var errAbort = &abortError{}

type abortError struct{}

func (*abortError) Error() string { return "sched: run aborted" }

// Finished reports whether s's run is over (Run has returned).
func (s *Sched) Finished() bool { return s != nil && s.phase == finished }
