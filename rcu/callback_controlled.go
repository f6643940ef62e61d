package rcu

// Callbacks in a controlled run (Domain.Bind). The queue is the same as
// when free-running, but the worker is a daemon thread of the Sched, which
// takes each batch as soon as the Sched runs it: the lazy collecting wait
// is a free-running optimisation that, on virtual time, would only hide
// the interleavings of callbacks with everything else. Outside the run,
// where no thread can take a step, Barrier and Close run the queued
// callbacks themselves.
//
// In a controlled run only one goroutine runs at a time, so the waits'
// conditions read the queue without q.mu; q.mu is still taken around
// every change, whose critical sections contain no scheduling point.

// callControlledLocked starts the worker thread for the callback just
// queued, unless it exists or the run is over.
//
// Preconditions: d.cb.mu is held; d.s != nil.
func (d *Domain) callControlledLocked() {
	q := &d.cb
	if !q.running && !d.s.Finished() {
		q.running = true
		d.s.GoDaemon("rcu", d.runCallbacksControlled)
	}
}

// runCallbacksControlled is the worker thread: liburcu's call_rcu_thread,
// one grace period per batch, without the collecting wait.
func (d *Domain) runCallbacksControlled() {
	q := &d.cb
	for {
		d.s.Wait("rcu.callbacks.idle", func() bool { return len(q.pending) > 0 || q.closing })
		if !d.runBatch() {
			q.mu.Lock()
			q.stopped = true
			q.mu.Unlock()
			return
		}
	}
}

// runBatch takes every queued callback, waits for a grace period and runs
// them in order. It reports false if nothing was queued.
func (d *Domain) runBatch() bool {
	q := &d.cb
	q.mu.Lock()
	batch := q.pending
	q.pending, q.spare = q.spare, nil
	q.mu.Unlock()
	if len(batch) == 0 {
		q.spare = batch
		return false
	}
	d.Synchronize()
	for i, f := range batch {
		d.s.Point("rcu.callback")
		f()
		batch[i] = nil
	}
	q.mu.Lock()
	q.done += uint64(len(batch))
	q.spare = batch[:0]
	q.mu.Unlock()
	return true
}

// barrierControlled is Barrier in a controlled Domain.
func (d *Domain) barrierControlled() {
	q := &d.cb
	if !d.s.Running() {
		for d.runBatch() {
		}
		return
	}
	target := q.queued
	d.s.Wait("rcu.barrier", func() bool { return q.done >= target })
}

// closeControlled is Close in a controlled Domain.
func (d *Domain) closeControlled() {
	q := &d.cb
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.closing = true
	worker := q.running && d.s.Running()
	q.mu.Unlock()
	if worker {
		d.s.Wait("rcu.close", func() bool { return q.stopped })
		return
	}
	for d.runBatch() {
	}
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
}
