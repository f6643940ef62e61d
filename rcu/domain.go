package rcu

import (
	"sync"
	"sync/atomic"

	"github.com/vmsim/vmsim/sched"
)

// cacheLine is the padding unit that keeps hot words on lines of their own.
// 128 rather than 64 bytes because Intel's adjacent-line prefetcher pulls
// cache lines in pairs, so two words 64 bytes apart still false-share.
const cacheLine = 128

// A Domain is one independent RCU universe: its own readers, its own grace
// periods and its own callback queue. Synchronize on one Domain never waits
// for readers of another.
//
// All methods of a Domain are safe for concurrent use by any number of
// goroutines. A Domain must be created with NewDomain; the zero value is
// not usable.
type Domain struct {
	_ [cacheLine]byte
	// gpCtr is the global grace-period counter, liburcu's rcu_gp.ctr:
	// epoch<<1 | activeBit. Every outermost Lock loads it and copies
	// it into the reader's slot, so it sits alone on its cache line and is
	// written only when a grace period begins.
	// Atomic; stored only with gpMu held.
	gpCtr atomic.Uint64
	_     [cacheLine - 8]byte

	// s controls d's points and waits in a controlled run; nil when
	// free-running. Immutable after Bind.
	s *sched.Sched

	// gpMu serialises grace periods (liburcu's rcu_gp_lock): at most one
	// goroutine at a time advances the epoch and waits for readers. A
	// sched.Mutex, since a grace period waits for readers while holding
	// it.
	gpMu sched.Mutex
	// started counts grace periods that have begun; the newest one's
	// number is the epoch in gpCtr. It is stored before gpCtr is
	// advanced, so a caller that reads started == n knows that grace period
	// n+1 has not begun yet. Atomic; stored only with gpMu held.
	started atomic.Uint64
	// completed counts grace periods that have ended: completed == n means
	// every reader that was inside a section when grace period n began has
	// since left it. Atomic; stored only with gpMu held.
	completed atomic.Uint64
	// waiters counts Synchronize calls that have taken their arrival
	// snapshot and not yet returned. Atomic. Only tests read it, to know
	// that callers have arrived.
	waiters atomic.Int64
	// pending is scratch space for the readers a grace period still waits
	// for, kept so that a grace period does not allocate.
	// Protected by gpMu.
	pending []*Reader

	// regMu serialises changes to the registry (liburcu's
	// rcu_registry_lock). Readers never take it.
	regMu sync.Mutex
	// registry is the list of registered readers, copied on every change
	// so that a grace period can scan a snapshot without holding regMu;
	// nil until the first Register. Atomic; stored only with regMu held;
	// the slice it points to is immutable. Read it with readers.
	registry atomic.Pointer[[]*Reader]

	// cb is the call-rcu machinery: queued callbacks and the goroutine
	// that runs them (see callback.go).
	cb callbackQueue
}

// NewDomain returns a Domain with no readers, no callbacks and no
// goroutines. The callback goroutine is started by the first Call; Close
// stops it.
func NewDomain() *Domain {
	d := new(Domain)
	d.Init()
	return d
}

// Init makes d, a zero Domain (one embedded in another struct, say), the
// Domain NewDomain returns.
//
// Preconditions: d is a zero Domain and nothing else uses it yet.
func (d *Domain) Init() {
	d.gpCtr.Store(activeBit) // epoch 0
	d.cb.init()
}

// Bind puts d under the control of s (see package sched): its readers'
// Lock and Unlock become scheduling points, a grace period's wait for
// readers and Barrier's wait for callbacks become waits s knows about, and
// callbacks run on a daemon thread of s instead of a goroutine of d's
// own. Outside s's run (setup code, final checks), Barrier and Close run
// the queued callbacks themselves. A nil s leaves d free-running.
//
// Preconditions: nothing has used d yet (no Register, Call or
// Synchronize).
func (d *Domain) Bind(s *sched.Sched) {
	d.s = s
	d.gpMu.Bind(s, "rcu.gp_lock")
}

// Register adds a new Reader to d and returns it. The Reader starts outside
// any read-side section, and is owned by the calling goroutine from now on
// (see Reader). Register is safe for concurrent use; it takes a mutex and
// copies the list of readers, so it is meant for thread creation, not for
// every read.
//
// Register never waits for a grace period, and a grace period that is
// already running never waits for a reader registered after it began.
func (d *Domain) Register() *Reader {
	r := &Reader{d: d, s: d.s}
	if d.s == nil {
		r.free = d
	}
	d.regMu.Lock()
	defer d.regMu.Unlock()
	old := d.readers()
	next := make([]*Reader, len(old), len(old)+1)
	copy(next, old)
	next = append(next, r)
	d.registry.Store(&next)
	return r
}

// unregister removes r from d's registry. It mirrors liburcu's
// rcu_unregister_thread: r must be outside any section, so no grace period
// can need to wait for it, and a grace period that took its snapshot before
// the removal merely finds r idle.
func (d *Domain) unregister(r *Reader) {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	old := d.readers()
	next := make([]*Reader, 0, len(old))
	for _, o := range old {
		if o != r {
			next = append(next, o)
		}
	}
	d.registry.Store(&next)
}

// Readers returns the number of Readers currently registered with d. It is
// safe for concurrent use; the answer may be stale by the time it returns.
func (d *Domain) Readers() int {
	return len(d.readers())
}

// readers returns the registered readers: the current registry.
func (d *Domain) readers() []*Reader {
	if p := d.registry.Load(); p != nil {
		return *p
	}
	return nil
}
