package rcu

import "time"

// Synchronize waits for a grace period (synchronize_rcu): it returns only
// after every read-side section of d that began before Synchronize was
// called has ended. In Go memory-model terms: if a section's Lock happens
// before the call to Synchronize, or precedes the call in the sequentially
// consistent order of atomic operations (as it does whenever the section
// loaded an atomic value, such as an atomic.Pointer, that the caller
// overwrote before calling Synchronize), then that section's matching
// Unlock happens before Synchronize returns, and so does everything the
// section did. After Synchronize the caller may therefore reclaim, poison
// or reuse whatever it unpublished before the call: no reader can still
// hold it.
//
// Synchronize does not wait for sections that begin after its grace period
// has begun; a steady stream of new readers cannot starve it, and such
// sections may still be running when it returns. They cannot reach data
// the caller unpublished before the call, because their loads of the
// published pointer follow the caller's store.
//
// Concurrent calls share grace periods: a caller that arrives while a
// grace period is running waits for the next one to begin and end (the
// running one may have begun before the caller's readers), and all callers
// that arrived during the same running grace period are satisfied by that
// single next one.
//
// Synchronize is safe for concurrent use. It blocks, spinning briefly and
// then yielding and sleeping (never more than about 64µs at a time), until
// the readers it waits for have left their sections. Calling it from inside
// a read-side section of d deadlocks, since that section cannot end while
// its goroutine waits; Domain cannot detect this because it does not know
// which Reader the calling goroutine owns, so code that owns a Reader
// should call Reader.Synchronize, which panics instead.
func (d *Domain) Synchronize() {
	// Arrival ticket. Grace period number want has not begun yet (started
	// is stored before gpCtr is advanced), so when it begins it is after
	// this load, and therefore after every section that began before this
	// call. Any grace period numbered want or later covers this caller.
	want := d.started.Load() + 1
	d.waiters.Add(1)
	defer d.waiters.Add(-1)

	d.gpMu.Lock()
	defer d.gpMu.Unlock()
	if d.completed.Load() >= want {
		// Another caller ran a grace period that began after this
		// caller arrived: share it. Its scan of the readers happens
		// before its unlock of gpMu, which happens before this lock.
		return
	}
	d.gracePeriodLocked()
}

// gracePeriodLocked runs one grace period: it advances the epoch and waits
// for every reader whose current section began in an older epoch.
//
// liburcu's memb flavour keeps only a one-bit phase in rcu_gp.ctr and so
// must flip it twice per grace period, waiting after each flip, to tell a
// reader that is really in the new phase from one whose snapshot is two
// phases stale. Here the phase is widened to a 63-bit epoch, which would
// take centuries of back-to-back grace periods to repeat, so one advance
// and one wait suffice; this is exactly what liburcu's urcu-qsbr does on 64-bit machines
// (update_counter_and_wait: "Increment current G.P." instead of "Switch
// parity"). The single advance is also what lets Synchronize promise not
// to wait for sections that begin after the grace period has begun: with
// two flips, a section that began between them would show the old phase
// to the second wait.
//
// Preconditions: d.gpMu is held.
func (d *Domain) gracePeriodLocked() {
	n := d.started.Load() + 1
	d.started.Store(n) // before gpCtr: see Synchronize's arrival ticket
	target := n<<1 | activeBit
	// The sequentially consistent store orders the new epoch before the
	// loads of the readers' slots below: any section whose Lock stored
	// its slot before this point is seen by the scan (liburcu's
	// cmm_smp_mb() between the flip and wait_for_readers).
	d.gpCtr.Store(target)

	// Readers registered after this snapshot was taken began every
	// section after the epoch advanced, so they are never waited for.
	readers := d.readers()
	pending := append(d.pending[:0], readers...)
	d.waitForReaders(pending, target)
	clear(pending[:len(readers)]) // do not keep unregistered Readers alive
	d.pending = pending[:0]

	d.completed.Store(n)
}

// waitForReaders waits until no reader in pending holds back the grace
// period whose gpCtr value is target. It mirrors liburcu's
// wait_for_readers: a reader observed quiescent, or inside a section that
// began in the new epoch, is dropped for good and never checked again, so
// readers that keep entering new sections cannot prolong the wait. pending
// is filtered in place. In a controlled run the wait is one the Sched
// knows about (sched.Wait): the waiting thread is not chosen until the
// readers it waits for have left their sections.
func (d *Domain) waitForReaders(pending []*Reader, target uint64) {
	if pending = stillHoldingBack(pending, target); len(pending) != 0 {
		d.waitForReadersSlow(pending, target)
	}
}

// waitForReadersSlow is waitForReaders once a reader holds the grace
// period back, kept apart so that the common case allocates no closure.
// Free-running, sched.Spin spins briefly, then yields, then sleeps at
// most 64µs at a time: the reader is most likely a few instructions from
// Unlock, but may be descheduled.
func (d *Domain) waitForReadersSlow(pending []*Reader, target uint64) {
	d.s.Spin("rcu.gp.wait", 64*time.Microsecond, func() bool {
		pending = stillHoldingBack(pending, target)
		return len(pending) == 0
	})
}

// stillHoldingBack filters pending in place down to the readers that hold
// back the grace period whose gpCtr value is target.
func stillHoldingBack(pending []*Reader, target uint64) []*Reader {
	still := pending[:0]
	for _, r := range pending {
		if r.holdsBack(target) {
			still = append(still, r)
		}
	}
	return still
}

// holdsBack reports whether r is inside a section that began before the
// epoch in target: liburcu's urcu_common_reader_state returning
// URCU_READER_ACTIVE_OLD. An active slot holds the gpCtr value its
// outermost Lock loaded, which is target exactly when the section began in
// this grace period's epoch.
func (r *Reader) holdsBack(target uint64) bool {
	v := r.ctr.Load()
	return v != 0 && v != target
}
