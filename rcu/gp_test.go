package rcu

import (
	"sync"
	"testing"
)

// A reader inside a section holds Synchronize back until it unlocks.
func TestSynchronizeWaitsForReaderInSection(t *testing.T) {
	d := NewDomain()
	r := register(t, d)

	r.Lock()
	done := goDo(d.Synchronize)
	notYet(t, done, "Synchronize returning while a reader is inside its section")
	r.Unlock()
	eventually(t, done, "Synchronize returning after the reader's Unlock")
}

// With no readers, or only idle ones, Synchronize returns by itself.
func TestSynchronizeWithIdleReaders(t *testing.T) {
	d := NewDomain()
	eventually(t, goDo(d.Synchronize), "Synchronize with no readers")
	var rs []*Reader
	for range 8 {
		r := d.Register()
		r.Lock()
		//lint:ignore SA2001 an empty section is the point here
		r.Unlock() // used, then idle
		rs = append(rs, r)
	}
	eventually(t, goDo(d.Synchronize), "Synchronize with idle readers")
	for _, r := range rs {
		r.Unregister()
	}
}

// The outer section still holds Synchronize back after an inner Unlock.
func TestSynchronizeWaitsForOuterSection(t *testing.T) {
	d := NewDomain()
	r := register(t, d)

	r.Lock()
	r.Lock()
	done := goDo(d.Synchronize)
	notYet(t, done, "Synchronize returning while both sections are open")
	r.Unlock()
	notYet(t, done, "Synchronize returning after only the inner Unlock")
	r.Lock() // re-nesting inside the same outer section changes nothing
	//lint:ignore SA2001 an empty section is the point here
	r.Unlock()
	notYet(t, done, "Synchronize returning while the outer section is open")
	r.Unlock()
	eventually(t, done, "Synchronize returning after the outer Unlock")
}

// A section that begins after the grace period has begun does not hold
// Synchronize back, even though it is still open when Synchronize returns.
func TestSynchronizeIgnoresLaterSections(t *testing.T) {
	d := NewDomain()
	early, late := register(t, d), register(t, d)

	early.Lock()
	done := goDo(d.Synchronize)
	waitUntil(t, "the grace period began", func() bool { return epochBegun(d, 1) })
	late.Lock()
	notYet(t, done, "Synchronize returning while the early reader is inside")
	early.Unlock()
	eventually(t, done, "Synchronize returning while only a later section is open")
	if !late.InSection() {
		t.Fatal("late reader left its section")
	}
	late.Unlock()
}

// A reader that leaves and re-enters while Synchronize waits for another
// reader is not waited for again: it was seen quiescent once.
func TestSynchronizeNotStarvedByNewSections(t *testing.T) {
	d := NewDomain()
	slow, busy := register(t, d), register(t, d)

	slow.Lock()
	busy.Lock()
	done := goDo(d.Synchronize)
	waitUntil(t, "the grace period began", func() bool { return epochBegun(d, 1) })
	busy.Unlock()
	busy.Lock() // a new section, begun in the new epoch
	slow.Unlock()
	eventually(t, done, "Synchronize returning while a reader re-entered")
	busy.Unlock()
}

// Readers registered after a grace period began are not waited for.
func TestSynchronizeIgnoresReadersRegisteredLater(t *testing.T) {
	d := NewDomain()
	early := register(t, d)

	early.Lock()
	done := goDo(d.Synchronize)
	waitUntil(t, "the grace period began", func() bool { return epochBegun(d, 1) })
	late := register(t, d)
	late.Lock()
	early.Unlock()
	eventually(t, done, "Synchronize returning while a newly registered reader is inside")
	late.Unlock()
}

// A caller that arrives while a grace period is running must not be
// satisfied by it: that grace period began before the caller's readers.
func TestSynchronizeArrivingDuringGracePeriodWaitsForNext(t *testing.T) {
	d := NewDomain()
	a, b := register(t, d), register(t, d)

	a.Lock()
	first := goDo(d.Synchronize)
	waitUntil(t, "the first grace period began", func() bool { return epochBegun(d, 1) })
	b.Lock() // after grace period 1 began: it will not wait for b
	second := goDo(d.Synchronize)
	waitUntil(t, "the second caller arrived", func() bool { return d.waiters.Load() == 2 })
	a.Unlock()
	eventually(t, first, "the first Synchronize returning")
	notYet(t, second, "the second Synchronize returning while b, which began before it, is inside")
	b.Unlock()
	eventually(t, second, "the second Synchronize returning after b's Unlock")
}

// Callers that arrive while one grace period runs all share the next one.
func TestConcurrentSynchronizeShareGracePeriod(t *testing.T) {
	const callers = 8
	d := NewDomain()
	r := register(t, d)

	r.Lock()
	first := goDo(d.Synchronize)
	waitUntil(t, "the first grace period began", func() bool { return epochBegun(d, 1) })
	var wg sync.WaitGroup
	for range callers {
		wg.Go(d.Synchronize)
	}
	waitUntil(t, "all callers arrived", func() bool { return d.waiters.Load() == callers+1 })
	r.Unlock()
	eventually(t, first, "the first Synchronize returning")
	eventually(t, goDo(wg.Wait), "the other callers returning")
	if got := d.completed.Load(); got != 2 {
		t.Fatalf("%d grace periods for %d callers that arrived during the first; want 2", got, callers)
	}
}
