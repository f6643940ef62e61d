package sched

import "fmt"

// A Thread is one thread of a controlled run: a goroutine that runs only
// when its Sched chooses it. Its methods are safe to call from the
// goroutine that drives the Sched at the time (see Sched).
type Thread struct {
	s      *Sched // immutable
	id     int    // immutable
	name   string // immutable
	daemon bool   // immutable
	body   func() // immutable

	state state
	at    string // the point it reached last

	// What a blocked thread waits for; see canRun.
	mu     *Mutex
	rw     *RWMutex
	cond   func() bool
	wakeAt int64 // sleeping: the virtual time it wakes at

	// carrier is the coroutine running body, from the first resume
	// until the body has returned (or been unwound).
	carrier *carrier
}

// state is what a thread is doing, as far as its Sched is concerned.
type state uint8

const (
	ready     state = iota // it can take the next step
	blockedMu              // waits for mu to be free
	blockedR               // waits to read-lock rw
	blockedW               // waits to write-lock rw
	blockedC               // waits for cond()
	sleeping               // waits for the clock to reach wakeAt
	ended                  // its body has returned (or it was unwound)
)

// ID returns the thread's number: its position in creation order.
func (t *Thread) ID() int { return t.id }

// Name returns the name the thread was created with.
func (t *Thread) Name() string { return t.name }

// Daemon reports whether the thread was made by GoDaemon.
func (t *Thread) Daemon() bool { return t.daemon }

// At returns the name of the point the thread reached last ("" before its
// first, "end" once it has returned).
func (t *Thread) At() string { return t.at }

// String returns the thread's name and ID, as failure reports print it.
func (t *Thread) String() string { return fmt.Sprintf("%s (thread %d)", t.name, t.id) }

// canRun reports whether t could take the next step.
func (t *Thread) canRun() bool {
	switch t.state {
	case ready:
		return true
	case blockedMu:
		return t.mu.owner == nil
	case blockedR:
		return t.rw.writer == nil && t.rw.writersWaiting == 0
	case blockedW:
		return t.rw.writer == nil && t.rw.readers == 0
	case blockedC:
		return t.cond()
	case sleeping:
		return t.wakeAt <= t.s.clock
	}
	return false
}

// waiting describes what a thread that cannot run waits for.
func (t *Thread) waiting() string {
	holder := func(h *Thread) string {
		if h == nil {
			return ""
		}
		return " (held by " + h.name + ")"
	}
	switch t.state {
	case blockedMu:
		return "lock " + t.mu.name + holder(t.mu.owner)
	case blockedR:
		if t.rw.writer != nil {
			return "read lock " + t.rw.name + holder(t.rw.writer)
		}
		return "read lock " + t.rw.name + " (a writer waits)"
	case blockedW:
		if t.rw.writer != nil {
			return "write lock " + t.rw.name + holder(t.rw.writer)
		}
		return fmt.Sprintf("write lock %s (%d readers)", t.rw.name, t.rw.readers)
	case blockedC:
		return t.at
	case sleeping:
		return fmt.Sprintf("sleep until %dns", t.wakeAt)
	}
	return ""
}
