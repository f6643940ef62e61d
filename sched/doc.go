// Package sched holds the scheduling points and the waits of the
// simulator: its locks, its spin-waits, its sleeps and its background
// work. Every other package of vmsim calls them instead of Go's sync
// primitives wherever another thread's view can change or matter, so that
// one schedule can be driven step by step from outside.
//
// # Two modes
//
// A nil *Sched means free-running, the default: every primitive here is
// the plain Go primitive it stands for (Mutex is a sync.Mutex, Sleep is
// time.Sleep, a Wait is the caller's own spin loop), and every point is
// one nil check, which costs nothing measurable on the fault path.
//
// A non-nil *Sched, made by New for one schedule (package explore makes
// them), controls every primitive bound to it. Its threads are
// goroutines, but only one of them runs at a time: the one the Sched
// chose. At each point the running thread stops and the Sched's
// Controller picks which thread takes the next step, so which
// interleaving happens depends only on the Controller's choices, never on
// the machine. Every wait is one the Sched knows about: a thread blocked
// on a held Mutex, waiting for a condition (Wait) or sleeping (Sleep) is
// never chosen until it can go on, and when no thread can, the schedule
// has deadlocked and the Sched says which thread waits for what.
//
// Time is virtual in a controlled run: the clock advances by one
// microsecond per step, and jumps ahead to the earliest sleeper's wake-up
// when every other thread is blocked. Trace timestamps read it (Now), so
// a timeline shows steps, not wall time.
//
// # Phases
//
// A Sched is set up first (New, then Go for each thread; the scenario
// builds its address spaces meanwhile on its own goroutine), then Run
// runs the threads until every non-daemon thread has returned, and then
// it is finished. Before Run and after it, no thread is current: points
// pass, a Mutex is taken and released as a flag (it must be free), and a
// Wait must already be satisfied. That is how setup code and final
// checks use a controlled address space from an ordinary goroutine.
//
// # The contract for code that uses it
//
// Between two points a thread runs alone, so a lock whose critical section
// contains no point (and no Wait, Sleep or controlled Mutex) can stay a
// sync.Mutex: it is never contended. A lock held across a point must be a
// Mutex or RWMutex bound to the Sched, and a loop that waits for another
// thread must be a Wait, or the schedule would hang on a primitive the
// Sched cannot see. Thread bodies may interact only through the simulator.
package sched
