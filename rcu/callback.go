package rcu

import (
	"sync"
	"time"
)

const (
	msgCallAfterClose = "rcu: Call after Close"
	msgCallNil        = "rcu: Call with a nil function"
)

// Laziness. Waking the callback goroutine costs the caller a futex wake
// and the machine a context switch, far more than queuing a callback, so
// the worker is woken only by the first callback that finds it idle; it
// then lets callbacks collect for up to lazyDelay before it takes the
// batch and begins its grace period, and takes it at once when lazyBatch
// callbacks are waiting or a Barrier or Close is. A steady stream of Calls
// (a munmap loop freeing a VMA per call) thus costs one wake and one grace
// period per lazyDelay or lazyBatch callbacks, not one per Call. Linux
// batches the same way: call_rcu only queues, and the grace-period kthread
// sleeps between grace periods (rcu_gp_fqs_loop, jiffies_till_first_fqs);
// CONFIG_RCU_LAZY goes further and holds callbacks for seconds.
//
// lazyBatch only bounds what a flood of Calls holds (Linux's qhimark
// plays the same part): taking a batch early costs the Call that hurries
// the goroutine a futex wake, microseconds on a virtual machine and the
// price of several simulated syscalls, so in a syscall loop the timer
// should end the wait. Users
// that recycle memory through callbacks (the VMA tree's nodes) should
// therefore pool about a lazyDelay's worth of it.
const (
	lazyDelay = time.Millisecond
	lazyBatch = 4096
)

// callbackQueue is a Domain's call-rcu machinery, a single-queue version of
// liburcu's call_rcu worker (urcu-call-rcu-impl.h, call_rcu_thread): Call
// appends to a FIFO, and one goroutine repeatedly takes everything queued,
// waits for one grace period and runs the batch in order.
type callbackQueue struct {
	mu sync.Mutex
	// work is signalled when the worker is idle and pending becomes
	// non-empty or closing is set; the worker waits on it. L is &mu.
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
	// idle is set while the worker waits on work with nothing pending,
	// so that only the Call that ends the wait signals it. Protected by
	// mu.
	idle bool
	// hurry is set when a Barrier, a Close or a full queue wants the
	// pending callbacks taken without waiting out lazyDelay; the worker
	// clears it when it takes them. Protected by mu.
	hurry bool
	// hurryCh holds a token while hurry is set and the worker has not
	// seen it: it wakes a worker that is letting callbacks collect.
	// Capacity 1; sent to and drained only with mu held. Made with the
	// worker, under mu; immutable after.
	hurryCh chan struct{}
	// delay is how long the worker lets a batch collect: lazyDelay
	// (tests lengthen it, before the first Call, so that only a hurry
	// ends the wait). Immutable after init.
	delay time.Duration
	// wakes counts the Calls that woke the idle worker. Protected by
	// mu; tests read it.
	wakes uint64
	// closing is set by Close; the worker exits once pending is empty.
	// Protected by mu.
	closing bool
	// stopped is set when no callback can run any more: the worker has
	// exited, or Close found it never started. Call panics from then on.
	// Protected by mu.
	stopped bool
	// exited is closed when the worker goroutine exits. Made with the
	// worker, under mu; immutable after. Controlled domains (Bind) have
	// no worker goroutine and leave it nil.
	exited chan struct{}
}

// init prepares q for use. Called once, by NewDomain.
func (q *callbackQueue) init() {
	q.work.L = &q.mu
	q.progress.L = &q.mu
	q.delay = lazyDelay
}

// hurryLocked asks the worker to take the pending callbacks now.
//
// Preconditions: q.mu is held.
func (q *callbackQueue) hurryLocked() {
	if !q.hurry {
		q.hurry = true
		q.hurryCh <- struct{}{} // never blocks: a token exists only while hurry is set
	}
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
// batched: each grace period covers every callback queued before it began,
// and the goroutine lets callbacks collect for up to a millisecond before
// it begins one (Barrier and Close cut that wait short), so a callback may
// run that much later than its grace period alone requires.
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
	if d.s != nil {
		d.callControlledLocked()
		return
	}
	switch {
	case !q.running:
		q.running = true
		q.hurryCh = make(chan struct{}, 1)
		q.exited = make(chan struct{})
		go d.runCallbacks()
	case q.idle:
		q.idle = false
		q.wakes++
		q.work.Signal()
	case len(q.pending) >= lazyBatch:
		q.hurryLocked()
	}
}

// runCallbacks is the callback goroutine (liburcu's call_rcu_thread).
func (d *Domain) runCallbacks() {
	q := &d.cb
	var collect *time.Timer // created at the first wait, reset for each
	q.mu.Lock()
	for {
		for len(q.pending) == 0 && !q.closing {
			q.idle = true
			q.work.Wait()
		}
		q.idle = false
		if len(q.pending) == 0 {
			// Closing and drained. Setting stopped under mu makes every
			// later Call panic rather than queue a callback no one runs.
			q.stopped = true
			close(q.exited)
			q.mu.Unlock()
			if collect != nil {
				collect.Stop()
			}
			return
		}
		if !q.hurry && !q.closing {
			// Let more callbacks join this grace period (see
			// lazyDelay). Calls made meanwhile do not wake the worker.
			q.mu.Unlock()
			if collect == nil {
				collect = time.NewTimer(q.delay)
			} else {
				collect.Reset(q.delay)
			}
			select {
			case <-collect.C:
			case <-q.hurryCh:
				collect.Stop()
			}
			q.mu.Lock()
		}
		batch := q.pending
		q.pending, q.spare = q.spare, nil
		// This batch is what any hurry was for; a token the select did
		// not take would cut the next batch's wait short.
		q.hurry = false
		select {
		case <-q.hurryCh:
		default:
		}
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
	if d.s != nil {
		d.barrierControlled()
		return
	}
	q := &d.cb
	q.mu.Lock()
	defer q.mu.Unlock()
	target := q.queued
	if q.done < target && len(q.pending) > 0 {
		// Some of the callbacks waited for are still to be taken:
		// take them now rather than after lazyDelay.
		q.hurryLocked()
	}
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
	if d.s != nil {
		d.closeControlled()
		return
	}
	q := &d.cb
	q.mu.Lock()
	if !q.closing {
		q.closing = true
		if q.running {
			// Wake the worker whether it is idle or collecting; a
			// closing worker does not wait out lazyDelay either.
			q.work.Signal()
			q.hurryLocked()
		} else {
			q.stopped = true
		}
	}
	exited := q.exited // nil if the worker never started
	q.mu.Unlock()
	if exited != nil {
		<-exited
	}
}
