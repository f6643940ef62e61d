package sched

import (
	"fmt"
	"strings"
)

// ThreadState is one thread's state in a failure report.
type ThreadState struct {
	Name   string
	ID     int
	Daemon bool
	Ended  bool   // its body has returned
	At     string // the point it reached last
	Waits  string // what it waits for; "" if it could run
}

func (ts ThreadState) String() string {
	switch {
	case ts.Ended:
		return ts.Name + " has ended"
	case ts.Waits != "":
		return ts.Name + " waits for " + ts.Waits
	}
	return ts.Name + " at " + ts.At
}

func describeAll(ts []ThreadState) string {
	var parts []string
	for _, t := range ts {
		if t.Daemon && !t.Ended && t.Waits != "" {
			continue // an idle daemon is not part of the story
		}
		parts = append(parts, t.String())
	}
	return strings.Join(parts, "; ")
}

// A DeadlockError ends a run in which live threads remain and none can
// take a step.
type DeadlockError struct {
	Step    int           // the step at which no thread could go on
	Threads []ThreadState // every thread, in ID order
}

func (e *DeadlockError) Error() string {
	return fmt.Sprintf("deadlock at step %d: %s", e.Step, describeAll(e.Threads))
}

// A MaxStepsError ends a run that would take more than its Sched's
// MaxSteps: a livelock, or a scenario too long for the limit.
type MaxStepsError struct {
	Steps   int           // the limit
	Threads []ThreadState // every thread, in ID order
}

func (e *MaxStepsError) Error() string {
	return fmt.Sprintf("more than %d steps (livelock?): %s", e.Steps, describeAll(e.Threads))
}

// A PanicError ends a run in which a thread panicked.
type PanicError struct {
	Thread string // the thread's name
	Step   int    // the step during which it panicked
	At     string // the point it had reached last
	Value  any    // what it panicked with
	Stack  string // its goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("thread %s panicked at step %d (after %s): %v", e.Thread, e.Step, e.At, e.Value)
}
