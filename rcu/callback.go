package rcu

import "sync"

const (
	msgCallAfterClose = "rcu: Call after Close"
	msgCallNil        = "rcu: Call with a nil function"
)

// callbackQueue is a Domain's call-rcu machinery, a single-queue version of
// liburcu's call_rcu worker (urcu-call-rcu-impl.h, call_rcu_thread): Call
// appends to a FIFO, and one goroutine repeatedly takes everything queued,
// waits for one grace period and runs the batch in order.
type callbackQueue struct {
	mu sync.Mutex
	// work is signalled when pending becomes non-empty or closing is set;
	// the worker waits on it. L is &mu.
	work sync.Cond
	// progress is broadcast whenever done advances; Barrier waits on it.
	// L is &mu.
	progress sync.Cond
	// pending holds the callbacks queued and not yet taken by the worker,
	// oldest first. Protected by mu.
	pending []func()
	// spare is the previous batch's emptied slice, reused for pending so
	// that steady-state Call does not allocate. Protected by mu.
	spare []func()
	// queued counts every callback ever accepted by Call; done counts those
	// that have returned. done <= queued. Protected by mu.
	queued, done uint64
	// running is set when the worker goroutine has been started.
	// Protected by mu.
	running bool
	// closing is set by Close; the worker exits once pending is empty.
	// Protected by mu.
	closing bool
	// stopped is set when no callback can run any more: the worker has
	// exited, or Close found it never started. Call panics from then on.
	// Protected by mu.
	stopped bool
	// exited is closed when stopped is set. Immutable after init.
	exited chan struct{}
}

// init prepares q for use. Called once, by NewDomain.
func (q *callbackQueue) init() {
	q.work.L = &q.mu
	q.progress.L = &q.mu
	q.exited = make(chan struct{})
}

// Call queues f to run after a grace period (call_rcu): f runs once every
// read-side section of d that began before Call was called has ended.
// Everything that happens before Call happens before f runs, and, as for
// Synchronize, the Unlock of every section whose Lock happens before (or
// precedes, in the order of atomic operations) the call happens before f
// runs. The classic use is to unpublish an object and Call a function that
// frees or poisons it, without waiting.
//
// Callbacks run one at a time, in the order their Calls happened, on a
// goroutine that d starts at the first Call and Close stops. They are
// batched: each grace period covers every callback queued before it began.
// A callback may call Call and Synchronize, but must not call Barrier or
// Close (they would wait for the callback itself) and must not block for
// long, since it delays every later callback. A panicking callback crashes
// the program.
//
// Call never blocks on a grace period and may be called from inside a
// read-side section. It is safe for concurrent use. It panics if f is nil,
// and if d's callback goroutine has stopped, that is, once Close has
// returned (a Call made by a callback while Close drains is accepted and
// run before Close returns).
func (d *Domain) Call(f func()) {
	if f == nil {
		panic(msgCallNil)
	}
	q := &d.cb
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		panic(msgCallAfterClose)
	}
	q.pending = append(q.pending, f)
	q.queued++
	if !q.running {
		q.running = true
		go d.runCallbacks()
	}
	q.work.Signal()
}

// runCallbacks is the callback goroutine (liburcu's call_rcu_thread).
func (d *Domain) runCallbacks() {
	q := &d.cb
	q.mu.Lock()
	for {
		for len(q.pending) == 0 && !q.closing {
			q.work.Wait()
		}
		if len(q.pending) == 0 {
			// Closing and drained. Setting stopped under mu makes every
			// later Call panic rather than queue a callback no one runs.
			q.stopped = true
			close(q.exited)
			q.mu.Unlock()
			return
		}
		batch := q.pending
		q.pending, q.spare = q.spare, nil
		q.mu.Unlock()

		// The grace period begins after every callback in batch was
		// queued, so it waits for every section that began before any
		// of those Calls.
		d.Synchronize()
		for i, f := range batch {
			f()
			batch[i] = nil // let f and what it captured be collected
		}

		q.mu.Lock()
		q.done += uint64(len(batch))
		q.spare = batch[:0]
		q.progress.Broadcast()
	}
}

// Barrier waits until every callback whose Call happened before Barrier
// was called has returned (rcu_barrier), so their effects happen before
// Barrier returns. It does not wait for callbacks queued later, and it
// returns at once, without a grace period, when nothing is outstanding.
//
// Barrier is safe for concurrent use. It must not be called from a
// callback (it would wait for itself) or from inside a read-side section
// of d (the callbacks wait for that section to end); Reader.Barrier panics
// in the latter case instead of deadlocking.
func (d *Domain) Barrier() {
	q := &d.cb
	q.mu.Lock()
	defer q.mu.Unlock()
	target := q.queued
	for q.done < target {
		q.progress.Wait()
	}
}

// Close drains and stops d's callback machinery: it waits for a grace
// period, runs every callback still queued (and any that those callbacks
// queue), stops the callback goroutine and returns. Afterwards Call panics;
// Barrier returns at once; Register, Lock, Unlock and Synchronize keep
// working, since they need no goroutine.
//
// Close is idempotent and safe for concurrent use: every call returns once
// the goroutine has stopped. Like Barrier, it must not be called from a
// callback or from inside a read-side section of d.
func (d *Domain) Close() {
	q := &d.cb
	q.mu.Lock()
	if !q.closing {
		q.closing = true
		if q.running {
			q.work.Signal()
		} else {
			q.stopped = true
			close(q.exited)
		}
	}
	q.mu.Unlock()
	<-q.exited
}
