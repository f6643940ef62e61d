package sched

import "iter"

// A carrier is a coroutine of Run's goroutine (iter.Pull) that runs
// threads' bodies: one at a time, each until it returns, and then, if
// the run goes on to its end, the next thread it is given, in this run or
// a later one (a Pool keeps it in between). Switching to a coroutine never
// wakes another processor, and reusing one saves growing a new stack for
// every thread of every run: the simulator's fault path is deep.
type carrier struct {
	next func() (ended bool, ok bool) // resumes the coroutine until it yields
	stop func()                       // unwinds it (the teardown)
	// yield hands control back to Run: with false when the thread
	// suspends at a point, true when its body has returned. It returns
	// false once stop has been called. Set by the coroutine itself.
	yield func(ended bool) bool
	// t is the thread being carried; nil between threads.
	t *Thread
}

// newCarrier starts a carrier's coroutine (it runs once next is called).
func newCarrier() *carrier {
	c := new(carrier)
	c.next, c.stop = iter.Pull(c.loop)
	return c
}

// loop is the coroutine: run the thread it is given, report its end, and
// wait for the next.
func (c *carrier) loop(yield func(bool) bool) {
	c.yield = yield
	for {
		c.t.run()
		c.t = nil
		if !yield(true) {
			return
		}
	}
}

// suspend is called by the carried thread at a point that hands control
// back to Run; it returns when Run resumes the thread, false if it is to
// unwind instead.
func (c *carrier) suspend() bool { return c.yield(false) }

// A Pool keeps carriers between runs (Options.Pool). It must be used by one
// run at a time, and its runs should all be driven by one goroutine. The
// zero value is an empty Pool.
type Pool struct {
	free []*carrier
}

// take returns a carrier of p, or a new one. p may be nil.
func (p *Pool) take() *carrier {
	if p != nil {
		if k := len(p.free); k > 0 {
			c := p.free[k-1]
			p.free[k-1] = nil
			p.free = p.free[:k-1]
			return c
		}
	}
	return newCarrier()
}

// put keeps c, idle, for a later thread. With a nil p the carrier is
// stopped, so that its goroutine exits.
func (p *Pool) put(c *carrier) {
	if p == nil {
		c.stop()
		return
	}
	p.free = append(p.free, c)
}

// Close stops every carrier p keeps, so that their goroutines exit.
func (p *Pool) Close() {
	for _, c := range p.free {
		c.stop()
	}
	p.free = nil
}

// resume runs t until it stops: it hands control on, ends (its carrier
// goes back to pool), or, during the teardown, unwinds.
func (t *Thread) resume(pool *Pool) {
	c := t.carrier
	if c == nil {
		c = pool.take()
		c.t = t
		t.carrier = c
	}
	if ended, ok := c.next(); ok && ended {
		t.carrier = nil
		pool.put(c)
	} else if !ok {
		t.carrier = nil // unwound: the coroutine has exited
	}
}
