package sched

import (
	"fmt"
	"time"
)

// Point is a scheduling point named name ("fault.tryget",
// "mmap.shootdown.wait"): in a controlled run, the current thread stops
// here and the Controller chooses which thread takes the next step; the
// name is what timelines show. With a nil Sched, or when no thread is
// current (setup code, final checks), it does nothing. Names are
// package.object.operation, constant strings (a point must not allocate).
func (s *Sched) Point(name string) {
	if s != nil {
		s.point(name)
	}
}

// point is Point's controlled half, kept out of line so that Point
// inlines into the fast paths as one nil check.
//
//go:noinline
func (s *Sched) point(name string) {
	t := s.cur
	if t == nil || s.aborting {
		return
	}
	t.at = name
	s.yield(t)
}

// Wait blocks the current thread until cond() returns true: the
// controlled form of a spin-wait, named what (the point timelines and
// deadlock reports show). cond must be cheap, read only simulator state,
// and change only when another thread takes a step. Wait is a point: the
// thread may be preempted even when cond() already holds; when it goes
// on, cond() held at the moment it was chosen and nothing has run since.
//
// Outside Run (or with no current thread) there is nothing to wait for:
// Wait returns if cond() holds and panics otherwise, since the wait could
// never end. It must not be called on a nil Sched: free-running code keeps
// its own wait loop (see Spin).
func (s *Sched) Wait(what string, cond func() bool) {
	t := s.cur
	if t == nil || s.aborting {
		if cond() {
			return
		}
		if s.aborting {
			panic(errAbort)
		}
		panic(fmt.Sprintf("sched: %s outside the run can never end", what))
	}
	t.at = what
	t.state, t.cond = blockedC, cond
	s.yield(t)
	t.state, t.cond = ready, nil
}

// Spin waits until ready() returns true. Controlled, it is Wait. With a
// nil Sched it spins: it re-checks at once a few times, then yields the
// processor, then sleeps in growing steps of at most maxSleep: the
// backoff of a kernel spin-wait that may last long (a writer waiting for
// readers, a TLB shootdown waiting for a CPU).
func (s *Sched) Spin(what string, maxSleep time.Duration, ready func() bool) {
	if s != nil {
		s.Wait(what, ready)
		return
	}
	for i := 0; !ready(); i++ {
		backoff(i, maxSleep)
	}
}

// Sleep makes the current thread sleep for d (simulated I/O). With a nil
// Sched it is time.Sleep for a millisecond or more and a yielding spin
// below that, since the runtime rounds short sleeps up to about a
// millisecond when the process is idle. Controlled, the thread cannot run
// until the virtual clock has advanced by d (at least one step; the clock
// jumps ahead when every other thread is blocked), and no time passes
// outside the run.
func (s *Sched) Sleep(d time.Duration) {
	if s == nil {
		sleep(d)
		return
	}
	t := s.cur
	if t == nil || s.aborting {
		return
	}
	t.at = "sleep"
	t.state, t.wakeAt = sleeping, s.clock+max(int64(d), 1)
	s.yield(t)
	t.state = ready
}
