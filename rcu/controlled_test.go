package rcu

import (
	"slices"
	"testing"

	"github.com/vmsim/vmsim/sched"
)

// scripted is a Controller that makes the choices in ids (thread IDs) in
// order, then keeps the running thread when it can.
type scripted struct{ ids []int }

func (c *scripted) Choose(_ int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	for len(c.ids) > 0 {
		id := c.ids[0]
		c.ids = c.ids[1:]
		for _, t := range runnable {
			if t.ID() == id {
				return t
			}
		}
	}
	if slices.Contains(runnable, cur) {
		return cur
	}
	return runnable[0]
}

// In a controlled run a grace period is a wait the Sched knows about: the
// writer is not chosen until the reader has left its section, whatever
// the choices, and the callback runs on the Sched's daemon thread after
// the grace period.
func TestControlledGracePeriod(t *testing.T) {
	// The script lets the reader enter its section (its Lock is a point
	// before the store), then switches to the writer whenever it can: the
	// writer must still not pass Synchronize before the reader's Unlock.
	s := sched.New(sched.Options{Controller: &scripted{ids: []int{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}}})
	d := NewDomain()
	d.Bind(s)
	var log []string
	s.Go("reader", func() {
		r := d.Register()
		r.Lock()
		s.Point("in.section")
		log = append(log, "read")
		r.Unlock()
		r.Unregister()
	})
	s.Go("writer", func() {
		s.Point("before.sync")
		d.Call(func() { log = append(log, "callback") })
		d.Synchronize()
		log = append(log, "synchronized")
		d.Barrier()
		log = append(log, "barrier")
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	i, j := slices.Index(log, "read"), slices.Index(log, "synchronized")
	if i < 0 || j < i || !slices.Contains(log, "callback") || slices.Index(log, "callback") > slices.Index(log, "barrier") {
		t.Fatalf("log %q: the grace period or the barrier did not wait", log)
	}
	rcuThread := false
	for _, th := range s.Threads() {
		rcuThread = rcuThread || (th.Daemon() && th.Name() == "rcu")
	}
	if !rcuThread {
		t.Fatal("no daemon thread ran the callbacks")
	}
	d.Close() // outside the run: drains inline, no goroutine
}

// Outside a run (setup code, final checks), Barrier and Close run the
// queued callbacks themselves, after a grace period.
func TestControlledOutsideRun(t *testing.T) {
	s := sched.New(sched.Options{})
	d := NewDomain()
	d.Bind(s)
	r := d.Register()
	ran := 0
	d.Call(func() { ran++ })
	r.Lock()
	if !r.InSection() {
		t.Fatal("Lock outside the run did not enter a section")
	}
	r.Unlock()
	d.Barrier()
	if ran != 1 {
		t.Fatalf("Barrier outside the run ran %d callbacks, want 1", ran)
	}
	d.Call(func() { ran++ })
	if err := s.Run(); err != nil { // only the idle worker: nothing to do
		t.Fatal(err)
	}
	d.Close()
	if ran != 2 {
		t.Fatalf("Close after the run ran %d callbacks in all, want 2", ran)
	}
}
