package rcu

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// A callback waits for sections that were open when Call was made.
func TestCallRunsAfterGracePeriod(t *testing.T) {
	d := newDomain(t)
	r := register(t, d)

	r.Lock()
	ran := make(chan struct{})
	d.Call(func() { close(ran) }) // allowed inside a section
	notYet(t, ran, "callback running while a section open at Call is still open")
	r.Unlock()
	eventually(t, ran, "callback running after the section ended")
}

// Callbacks run in the order of their Calls, and see what happened before
// their Call.
func TestCallOrder(t *testing.T) {
	d := newDomain(t)
	var got []int // written only by callbacks, read after Barrier
	want := make([]int, 200)
	for i := range want {
		want[i] = i
		d.Call(func() { got = append(got, i) })
	}
	d.Barrier()
	if !slices.Equal(got, want) {
		t.Fatalf("callbacks ran in order %v; want %v", got, want)
	}
}

// Callbacks are batched: one grace period covers everything queued while
// the previous batch ran.
func TestCallBatchesShareOneGracePeriod(t *testing.T) {
	const n = 100
	d := newDomain(t)

	running, release := make(chan struct{}), make(chan struct{})
	d.Call(func() { close(running); <-release })
	eventually(t, running, "first callback running")
	before := d.completed.Load()
	ran := 0 // written only by callbacks, read after Barrier
	for range n {
		d.Call(func() { ran++ })
	}
	close(release)
	d.Barrier()
	if ran != n {
		t.Fatalf("%d of %d callbacks ran before Barrier returned", ran, n)
	}
	if gps := d.completed.Load() - before; gps != 1 {
		t.Fatalf("%d grace periods for one batch of %d callbacks; want 1", gps, n)
	}
}

// Barrier waits for callbacks queued before it, and for nothing else.
func TestBarrier(t *testing.T) {
	d := newDomain(t)
	r := register(t, d)

	r.Lock()
	var ran sync.WaitGroup // counts callbacks that have not yet run
	ran.Add(3)
	for range 3 {
		d.Call(ran.Done)
	}
	barrier := goDo(d.Barrier)
	notYet(t, barrier, "Barrier returning while its callbacks wait for a section")
	r.Unlock()
	eventually(t, barrier, "Barrier returning")
	eventually(t, goDo(ran.Wait), "callbacks having run when Barrier returned")
}

// Barrier with nothing outstanding returns at once, without a grace period
// and without starting the callback goroutine.
func TestBarrierWithNothingQueued(t *testing.T) {
	d := NewDomain()
	r := register(t, d)
	r.Lock() // would hold back any grace period
	eventually(t, goDo(d.Barrier), "Barrier with nothing queued")
	r.Unlock()
	if d.completed.Load() != 0 || d.cb.running {
		t.Fatal("Barrier with nothing queued ran a grace period or started the worker")
	}
	d.Close()
}

// Close runs every pending callback after a grace period, then stops.
func TestCloseDrains(t *testing.T) {
	d := NewDomain()
	r := register(t, d)

	r.Lock()
	var got []int // written by callbacks, read after Close
	for i := range 3 {
		d.Call(func() { got = append(got, i) })
	}
	closed := goDo(d.Close)
	notYet(t, closed, "Close returning before its callbacks' grace period")
	r.Unlock()
	eventually(t, closed, "Close returning")
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Close ran callbacks %v; want [0 1 2]", got)
	}
	d.Close() // idempotent
	eventually(t, goDo(d.Barrier), "Barrier after Close")
	eventually(t, goDo(d.Synchronize), "Synchronize after Close")
	mustPanic(t, msgCallAfterClose, func() { d.Call(func() {}) })
}

// A callback that queues another one while Close drains gets it run.
func TestCallFromCallbackDuringClose(t *testing.T) {
	d := NewDomain()
	var chained bool
	d.Call(func() {
		d.Call(func() { chained = true })
	})
	d.Close()
	if !chained {
		t.Fatal("callback queued by a callback during Close did not run")
	}
}

// Concurrent Close calls all return once the goroutine has stopped.
func TestConcurrentClose(t *testing.T) {
	d := NewDomain()
	var ran bool
	d.Call(func() { ran = true })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(d.Close)
	}
	wg.Wait()
	if !ran {
		t.Fatal("a Close returned before the queued callback ran")
	}
}

// Close on a domain that never ran a callback needs no goroutine.
func TestCloseWithoutCalls(t *testing.T) {
	d := NewDomain()
	d.Close()
	d.Close()
	mustPanic(t, msgCallAfterClose, func() { d.Call(func() {}) })
}

// lazyDomain returns a Domain whose callback goroutine, before each grace
// period, waits for a hurry (a full queue, Barrier or Close) however long
// that takes, so that tests of batching do not depend on timing.
func lazyDomain(t *testing.T) *Domain {
	d := newDomain(t)
	d.cb.delay = time.Hour
	return d
}

// The idle callback goroutine is woken by the first Call of a batch only:
// the Calls that follow join that batch, which Barrier then has run at
// once, not after the collecting wait, under one grace period.
func TestCallWakesIdleWorkerOncePerBatch(t *testing.T) {
	const n = 100
	d := lazyDomain(t)
	d.Call(func() {})
	eventually(t, goDo(d.Barrier), "Barrier cutting the collecting wait short")
	idle := func() bool {
		d.cb.mu.Lock()
		defer d.cb.mu.Unlock()
		return d.cb.idle
	}
	waitUntil(t, "the callback goroutine is idle", idle)
	d.cb.mu.Lock()
	wakes := d.cb.wakes
	d.cb.mu.Unlock()
	gps := d.completed.Load()

	ran := 0 // written only by callbacks, read after Barrier
	for range n {
		d.Call(func() { ran++ })
	}
	eventually(t, goDo(d.Barrier), "Barrier")
	if ran != n {
		t.Fatalf("%d of %d callbacks ran before Barrier returned", ran, n)
	}
	d.cb.mu.Lock()
	wakes = d.cb.wakes - wakes
	d.cb.mu.Unlock()
	if wakes != 1 {
		t.Errorf("%d Calls woke the idle callback goroutine %d times; want 1", n, wakes)
	}
	if gps := d.completed.Load() - gps; gps != 1 {
		t.Errorf("%d grace periods for %d callbacks queued together; want 1", gps, n)
	}
}

// A full queue is not held back: its grace period begins without a
// Barrier, however long the goroutine would otherwise let it collect.
func TestFullQueueIsNotHeldBack(t *testing.T) {
	d := lazyDomain(t)
	last := make(chan struct{})
	for range lazyBatch - 1 {
		d.Call(func() {})
	}
	d.Call(func() { close(last) })
	eventually(t, last, "the callbacks of a full queue running")
}

// Close does not wait out the collecting wait either.
func TestCloseCutsCollectingShort(t *testing.T) {
	d := lazyDomain(t)
	var ran bool
	d.Call(func() { ran = true })
	eventually(t, goDo(d.Close), "Close of a domain whose callbacks are collecting")
	if !ran {
		t.Fatal("Close returned before the queued callback ran")
	}
}
