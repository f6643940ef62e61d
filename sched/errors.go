package sched

import (
	"fmt"
	"strings"
)

// ThreadState is one thread's state in a failure report: a plain value,
// safe to share.
type ThreadState struct {
	Name   string
	ID     int
	Daemon bool
	Ended  bool   // its body has returned
	At     string // the point it reached last
	Waits  string // what it waits for; "" if it could run
}

// String describes the thread for a failure message: "A waits for lock
// x (held by B)", "A has ended", or "A at tlb.hit".
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
// take a step. Like every error of this package, it is a plain value,
// safe to share once Run has returned it.
type DeadlockError struct {
	Step    int           // the step at which no thread could go on
	Threads []ThreadState // every thread, in ID order
}

// Error names the step and what each thread waits for.
func (e *DeadlockError) Error() string {
	return fmt.Sprintf("deadlock at step %d: %s", e.Step, describeAll(e.Threads))
}

// A MaxStepsError ends a run that would take more than its Sched's
// MaxSteps: a livelock, or a scenario too long for the limit.
type MaxStepsError struct {
	Steps   int           // the limit
	Threads []ThreadState // every thread, in ID order
}

// Error names the limit and where each thread was.
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

// Error names the thread, the step and the panic's value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("thread %s panicked at step %d (after %s): %v", e.Thread, e.Step, e.At, e.Value)
}

// A ControllerError ends a run whose Controller panicked, or chose a
// thread that could not run: a replay that parted from its token, for
// package explore.
type ControllerError struct {
	Step  int // the step it was choosing for
	Value any // what it panicked with
}

// Error names the step and the panic's value.
func (e *ControllerError) Error() string {
	return fmt.Sprintf("the controller failed at step %d: %v", e.Step, e.Value)
}

// Unwrap returns the panic's value if it is an error.
func (e *ControllerError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
