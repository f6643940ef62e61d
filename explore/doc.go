// Package explore runs a scenario of simulated threads one step at a time,
// under a strategy that chooses every interleaving, so that the answer to
// "what can thread A observe while thread B is inside mmap(MAP_FIXED)?"
// depends only on the options, never on the machine.
//
// # Scenarios
//
// A scenario is a function of an *Env. It runs first, alone and
// uncontrolled, once per schedule: it builds address spaces with Env.New,
// maps and fills memory through threads of its own, and declares the
// controlled threads with Env.Go. When it returns, those threads run under
// a package sched scheduler that lets exactly one of them take each step:
// every lock, wait, RCU section, tree lookup and publish, PTE install and
// zap, TLB access and shootdown stage of the simulator is a scheduling
// point, and at each point where two or more threads could go on the
// strategy picks one. Thread bodies interact only through the simulator:
// simulated memory is how they signal each other. A body reports through
// Observe and Errorf; it must not call a testing.T's FailNow or Fatal
// (runtime.Goexit would end the scheduler's goroutine, not the thread). The RCU callback worker
// of each address space is a thread too, so grace periods and the frees
// they allow are interleaved like everything else.
//
// Everything a schedule uses must be made by its own scenario: address
// spaces with Env.New (and Fork), and the Memories and Files they use. A
// Memory or a File is bound to the first run that uses it until that run
// has finished, so one made outside the scenario serves one schedule and
// is refused (mmap.New: EINVAL; Mmap: ENODEV) by the schedules that run
// meanwhile.
//
// A schedule's outcome is what its threads Observe, as "key=value" pairs
// sorted by key. A schedule fails when a thread calls Errorf, a body or
// the simulator panics, the threads deadlock (each one is named with what
// it waits for), it passes MaxSteps (a livelock), or Check finds a broken
// invariant in an address space once every thread has ended. Finally
// functions run after the threads and before those checks.
//
// # Strategies
//
//   - Random picks a runnable thread uniformly at each choice.
//   - PCT(depth) is probabilistic concurrency testing: random thread
//     priorities and depth-1 random change points, which finds a bug of
//     that depth in each schedule with a known minimum probability.
//   - Exhaustive(n) runs every schedule with at most n preemptions, in
//     depth-first order, and says when it has covered them all: within
//     that bound, an outcome that is not in the Report cannot happen.
//
// # Replay
//
// Every failing schedule comes with a replay token, a short string that
// encodes the choices themselves. Options{Replay: token} runs exactly that
// schedule again, under any strategy and on any machine, and records its
// timeline. A run that cannot follow its token (a thread the token names
// cannot run, or the run ends early) is an error naming the step where
// they parted: that is how hidden nondeterminism in a scenario shows up,
// rather than as a silently different run.
//
// # Determinism
//
// The same Options and scenario give the same Report, whatever Workers
// and GOMAXPROCS are: schedules are ordered (by number for Random and PCT,
// by their choices for Exhaustive), each draws from its own random source,
// and the Report keeps schedule order. A scenario must therefore be
// deterministic itself: no wall clock, no map iteration whose order
// matters, no goroutines of its own.
//
// Outside a Run nothing of this package costs anything: an address space
// that Env.New did not make has no scheduler, and its points are a nil
// check.
package explore
