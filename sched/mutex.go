package sched

import (
	"fmt"
	"sync"
)

// A Mutex is a mutual-exclusion lock that a Sched can control: a
// sync.Mutex until Bind gives it a Sched, and from then on a lock whose
// acquire and release are points and whose waiters the Sched knows. Use
// it for a lock that may be held across a point; a lock whose critical
// sections contain no point can stay a sync.Mutex (see the package doc).
//
// The zero value is an unlocked, free-running Mutex. A Mutex must not be
// copied after first use. Lock and Unlock are safe for concurrent use by
// the goroutines that drive a run.
type Mutex struct {
	mu sync.Mutex // free-running
	s  *Sched     // immutable after Bind; nil: free-running

	// Controlled state, touched only by the goroutine driving s.
	owner *Thread // the holder; outside, a placeholder
	name  string  // for timelines and deadlock reports
	// The names of the lock's points, made once by Bind so that taking
	// and releasing allocate nothing. Immutable after Bind.
	lockPt, unlockPt string
}

// outside stands for the holder of a lock taken when no thread is current
// (setup code and final checks).
var outside = &Thread{name: "(outside the run)"}

// Bind makes m controlled by s, named name in points ("name.lock",
// "name.unlock") and deadlock reports. A nil s makes m free-running. A
// Mutex may be bound again once the run of its Sched has finished.
//
// Preconditions: m is unlocked and no other goroutine uses it meanwhile.
func (m *Mutex) Bind(s *Sched, name string) {
	m.s, m.name, m.owner = s, name, nil
	if s != nil {
		m.lockPt, m.unlockPt = name+".lock", name+".unlock"
	}
}

// Lock locks m, waiting while another thread holds it.
func (m *Mutex) Lock() {
	if m.s != nil {
		m.s.lock(m)
		return
	}
	m.mu.Lock()
}

// Unlock unlocks m. Unlocking an unlocked Mutex panics, as sync.Mutex
// does.
func (m *Mutex) Unlock() {
	if m.s != nil {
		m.s.unlock(m)
		return
	}
	m.mu.Unlock()
}

//go:noinline
func (s *Sched) lock(m *Mutex) {
	t := s.cur
	if t == nil || s.aborting {
		if m.owner != nil && !s.aborting {
			panic(fmt.Sprintf("sched: lock %s is held by %s outside the run", m.name, m.owner.name))
		}
		m.owner = outside
		return
	}
	t.at = m.lockPt
	t.state, t.mu = blockedMu, m
	s.yield(t)
	t.state, t.mu = ready, nil
	m.owner = t
}

//go:noinline
func (s *Sched) unlock(m *Mutex) {
	if m.owner == nil {
		panic("sched: unlock of unlocked mutex " + m.name)
	}
	m.owner = nil
	s.Point(m.unlockPt)
}

// An RWMutex is a reader/writer lock that a Sched can control, as Mutex is
// a controllable sync.Mutex. Controlled, it prefers writers as
// sync.RWMutex does: once a writer waits, new readers wait too.
//
// The zero value is an unlocked, free-running RWMutex. It must not be
// copied after first use. Its methods are safe for concurrent use by the
// goroutines that drive a run.
type RWMutex struct {
	mu sync.RWMutex // free-running
	s  *Sched       // immutable after Bind; nil: free-running

	// Controlled state, touched only by the goroutine driving s.
	writer         *Thread // the write holder, or nil
	readers        int     // read holders
	writersWaiting int     // threads waiting to write-lock
	name           string
	// Point names, made once by Bind. Immutable after Bind.
	rlockPt, runlockPt, lockPt, unlockPt string
}

// Bind makes rw controlled by s, named name in points and deadlock
// reports. A nil s leaves it free-running.
//
// Preconditions: rw is unlocked and no other goroutine uses it yet.
func (rw *RWMutex) Bind(s *Sched, name string) {
	rw.s, rw.name = s, name
	if s != nil {
		rw.rlockPt, rw.runlockPt = name+".read_lock", name+".read_unlock"
		rw.lockPt, rw.unlockPt = name+".write_lock", name+".write_unlock"
	}
}

// RLock locks rw for reading.
func (rw *RWMutex) RLock() {
	if rw.s != nil {
		rw.rlock()
		return
	}
	rw.mu.RLock()
}

// RUnlock releases one read hold of rw.
func (rw *RWMutex) RUnlock() {
	if rw.s != nil {
		rw.runlock()
		return
	}
	rw.mu.RUnlock()
}

// Lock locks rw for writing.
func (rw *RWMutex) Lock() {
	if rw.s != nil {
		rw.lock()
		return
	}
	rw.mu.Lock()
}

// Unlock releases rw's write hold.
func (rw *RWMutex) Unlock() {
	if rw.s != nil {
		rw.unlock()
		return
	}
	rw.mu.Unlock()
}

//go:noinline
func (rw *RWMutex) rlock() {
	s := rw.s
	t := s.cur
	if t == nil || s.aborting {
		if rw.writer != nil && !s.aborting {
			panic(fmt.Sprintf("sched: %s is write-held by %s outside the run", rw.name, rw.writer.name))
		}
		rw.readers++
		return
	}
	t.at = rw.rlockPt
	t.state, t.rw = blockedR, rw
	s.yield(t)
	t.state, t.rw = ready, nil
	rw.readers++
}

//go:noinline
func (rw *RWMutex) runlock() {
	if rw.readers == 0 {
		panic("sched: RUnlock of unlocked " + rw.name)
	}
	rw.readers--
	rw.s.Point(rw.runlockPt)
}

//go:noinline
func (rw *RWMutex) lock() {
	s := rw.s
	t := s.cur
	if t == nil || s.aborting {
		if (rw.writer != nil || rw.readers != 0) && !s.aborting {
			panic(fmt.Sprintf("sched: %s is held outside the run", rw.name))
		}
		rw.writer = outside
		return
	}
	t.at = rw.lockPt
	rw.writersWaiting++
	t.state, t.rw = blockedW, rw
	s.yield(t)
	t.state, t.rw = ready, nil
	rw.writersWaiting--
	rw.writer = t
}

//go:noinline
func (rw *RWMutex) unlock() {
	if rw.writer == nil {
		panic("sched: Unlock of unlocked " + rw.name)
	}
	rw.writer = nil
	rw.s.Point(rw.unlockPt)
}

// Held reports whether m is locked, by anyone: for assertions that the
// caller holds it. Free-running it costs a TryLock.
func (m *Mutex) Held() bool {
	if m.s != nil {
		return m.owner != nil
	}
	if m.mu.TryLock() {
		m.mu.Unlock()
		return false
	}
	return true
}
