package rcu

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// Domain that ran callbacks must have been Closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// settle is how long a test watches for something that must not happen
// (a Synchronize returning while a reader holds it back). Waiting longer
// only makes a bug likelier to be caught; a correct implementation passes
// whatever the value.
const settle = 20 * time.Millisecond

// deadlock is how long a test waits for something that must happen before
// declaring the implementation stuck.
const deadlock = 10 * time.Second

// notYet fails the test if ch is closed within settle.
func notYet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s happened too early", what)
	case <-time.After(settle):
	}
}

// eventually fails the test if ch is not closed within deadlock.
func eventually(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(deadlock):
		t.Fatalf("%s did not happen (deadlock?)", what)
	}
}

// goDo runs f on a new goroutine and returns a channel closed when it
// returns.
func goDo(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// waitUntil polls cond until it holds, failing the test after deadlock.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(deadlock)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// epochBegun reports whether grace period n has advanced d's epoch, so
// that a section entered from now on is not waited for by it.
func epochBegun(d *Domain, n uint64) bool {
	return d.gpCtr.Load()>>1 >= n
}

// mustPanic fails the test unless f panics with exactly want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		got := recover()
		if got == nil {
			t.Fatalf("no panic; want %q", want)
		}
		if got != want {
			t.Fatalf("panic %v; want %q", got, want)
		}
	}()
	f()
}

// newDomain returns a Domain that is closed when the test ends.
func newDomain(t *testing.T) *Domain {
	d := NewDomain()
	t.Cleanup(d.Close)
	return d
}

// register returns a new Reader of d that is unregistered when the test
// ends, after leaving any section a failed test left open, so that one
// failure is reported as itself and does not deadlock or panic the rest.
func register(t *testing.T, d *Domain) *Reader {
	r := d.Register()
	t.Cleanup(func() {
		for r.InSection() {
			r.Unlock()
		}
		if r.d != nil {
			r.Unregister()
		}
	})
	return r
}
