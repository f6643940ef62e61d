package rcu

import (
	"sync/atomic"
	"unsafe"

	"github.com/vmsim/vmsim/sched"
)

// A reader's slot word, like liburcu's rcu_reader.ctr, is a snapshot of the
// domain's grace-period counter. gpCtr is always epoch<<1 | activeBit; a
// reader's ctr is the gpCtr value its outermost Lock loaded while it is
// inside a section, and 0 while it is quiescent. liburcu also keeps the
// nesting depth in the low bits of ctr (URCU_GP_CTR_NEST_MASK); here only the
// owner ever needs the depth, so it lives in a plain field of the same slot,
// and nested Lock/Unlock pairs touch no atomic at all.
const activeBit = 1

// Panic messages for programmer errors. Each names the misuse.
const (
	msgUnlockWithoutLock   = "rcu: Unlock without matching Lock"
	msgLockUnregistered    = "rcu: Lock on a Reader that is not registered (used after Unregister?)"
	msgUnregisterInSection = "rcu: Unregister inside a read-side section"
	msgUnregisterTwice     = "rcu: Unregister on a Reader that is not registered (Unregister called twice?)"
	msgSyncInSection       = "rcu: Synchronize inside a read-side section of the same domain would deadlock"
	msgBarrierInSection    = "rcu: Barrier inside a read-side section of the same domain would deadlock"
	msgUseUnregistered     = "rcu: use of a Reader that is not registered (used after Unregister?)"
)

// A Reader is one registered reader of a Domain: the simulated CPU, or user
// thread, that enters read-side sections. It is liburcu's per-thread
// struct rcu_reader made explicit, because goroutines have no thread-local
// storage.
//
// A Reader is owned by one goroutine at a time and is not safe for
// concurrent use: Lock, Unlock, Synchronize, Barrier and Unregister must
// be called only by the owner (InSection may be called by anyone). Ownership may
// move between goroutines if the hand-over is synchronized (a channel send,
// a mutex), exactly as a simulated thread migrates between CPUs. Grace
// periods, on any goroutine, read a Reader's slot concurrently; that is
// what the slot's atomics are for.
//
// The read side takes no lock and writes no shared memory: Lock and Unlock
// only write the Reader's own slot, which is padded to a cache line of its
// own so readers on different CPUs never contend.
type Reader struct {
	// ctr is the reader's slot word (liburcu's rcu_reader.ctr): 0 when
	// quiescent, else the gpCtr value, and so the epoch, that the
	// outermost Lock of the current section loaded.
	// Atomic; written only by the owning goroutine, read by grace periods.
	ctr atomic.Uint64
	// nest is the read-side nesting depth; ctr != 0 exactly when nest != 0.
	// Read and written only by the owning goroutine.
	nest uint64
	// d is the domain r is registered with, or nil once r is unregistered.
	// Read and written only by the owning goroutine.
	d *Domain
	// s is d's Sched, copied so that Lock and Unlock reach it without a
	// second load; nil when free-running. Immutable.
	s *sched.Sched
	// free is d while r is registered with a free-running Domain, nil
	// otherwise: the one field the inlined fast paths of Lock and
	// Unlock test. Read and written only by the owning goroutine.
	free *Domain
	// The allocator rounds 128-byte objects to the 128-byte size class,
	// whose objects are 128-byte aligned, so each Reader has its own
	// (pair of) cache lines.
	_ [cacheLine - 40]byte
}

// A Reader must be exactly one padded cache line: the arrays below have a
// negative length, and do not compile, otherwise.
var (
	_ [unsafe.Sizeof(Reader{}) - cacheLine]byte
	_ [cacheLine - unsafe.Sizeof(Reader{})]byte
)

// Lock enters a read-side section (rcu_read_lock). Sections nest to any
// depth: an inner Lock only deepens the nesting, and the section ends at
// the Unlock that matches the outermost Lock.
//
// Lock never blocks and never waits for writers. Everything the section
// does between Lock and its matching Unlock is protected: a grace period
// that begins after this Lock returns will not end until the section has
// ended (see Domain.Synchronize for the exact guarantee).
//
// Lock panics if r is not registered (after Unregister). It must be called
// by r's owner.
func (r *Reader) Lock() {
	// The common case, the outermost Lock of a free-running reader, is
	// kept small enough to inline; the rest is lockSlow.
	d := r.free
	if r.nest != 0 || d == nil {
		r.lockSlow()
		return
	}
	r.nest = 1
	// Outermost: publish the current epoch in the slot. The store is
	// sequentially consistent, so it is ordered before every load the
	// section makes; that is the smp_mb() that liburcu's memb flavour
	// gets from the writer's membarrier().
	r.ctr.Store(d.gpCtr.Load())
}

// lockSlow is Lock when nested, controlled or misused.
func (r *Reader) lockSlow() {
	if r.nest != 0 {
		// Nested: the outer section already holds grace periods back;
		// only the depth changes (liburcu's _rcu_read_lock_update).
		r.nest++
		return
	}
	d := r.d
	if d == nil {
		panic(msgLockUnregistered)
	}
	r.s.Point("rcu.read_lock")
	r.nest = 1
	r.ctr.Store(d.gpCtr.Load())
}

// Unlock leaves the innermost read-side section (rcu_read_unlock). When it
// ends the outermost one, the reader becomes quiescent and no longer holds
// back any grace period. Unlock never blocks.
//
// Unlock panics if r is not inside a section. It must be called by r's
// owner.
func (r *Reader) Unlock() {
	if r.nest == 1 && r.free != nil {
		// Outermost: sequentially consistent, so every access in the
		// section is ordered before the grace period that observes the
		// reader quiescent.
		r.ctr.Store(0)
		r.nest = 0
		return
	}
	r.unlockSlow()
}

// unlockSlow is Unlock when nested, controlled or misused.
func (r *Reader) unlockSlow() {
	switch r.nest {
	case 0:
		panic(msgUnlockWithoutLock)
	case 1:
		r.ctr.Store(0)
		r.nest = 0
		// The point comes after the store: what a controlled run must
		// be able to put here is a whole grace period, so that code
		// which wrongly uses RCU-protected data after Unlock is caught.
		r.s.Point("rcu.read_unlock")
		return
	}
	r.nest--
}

// InSection reports whether r is inside a read-side section, like liburcu's
// rcu_read_ongoing. Only r's owner gets a meaningful answer; from any other
// goroutine it is a race-free but instantly stale sample.
func (r *Reader) InSection() bool {
	return r.ctr.Load() != 0
}

// Unregister removes r from its Domain (rcu_unregister_thread). Grace
// periods stop looking at r, and any later use of r panics.
//
// Unregister panics if r is inside a read-side section (the section would
// lose its protection) or is not registered. It must be called by r's
// owner; it may block briefly on the registry mutex but never waits for a
// grace period.
func (r *Reader) Unregister() {
	if r.nest != 0 {
		panic(msgUnregisterInSection)
	}
	if r.d == nil {
		panic(msgUnregisterTwice)
	}
	r.d.unregister(r)
	r.d, r.free = nil, nil
}

// Synchronize is Domain.Synchronize called on behalf of r's owner. Because
// it knows the caller's Reader, it can catch the one misuse
// Domain.Synchronize cannot: waiting for a grace period from inside one's
// own read-side section, which would never end. It panics in that case,
// and if r is not registered. Code that owns a Reader should prefer it.
func (r *Reader) Synchronize() {
	r.check(msgSyncInSection)
	r.d.Synchronize()
}

// Barrier is Domain.Barrier called on behalf of r's owner. Like
// Synchronize, it panics instead of deadlocking when r is inside a
// read-side section, and panics if r is not registered.
func (r *Reader) Barrier() {
	r.check(msgBarrierInSection)
	r.d.Barrier()
}

// check panics with inSection if r is inside a section, and with
// msgUseUnregistered if r is not registered.
func (r *Reader) check(inSection string) {
	if r.nest != 0 {
		panic(inSection)
	}
	if r.d == nil {
		panic(msgUseUnregistered)
	}
}
