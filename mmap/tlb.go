package mmap

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
)

// tlbEntry caches one translation. Owned by the thread's goroutine.
type tlbEntry struct {
	vpn   uint64        // virtual page number + 1; 0 = invalid
	slot  *pgtable.Slot // the frame's storage
	pfn   pgtable.PFN
	write bool
}

// tlb is a direct-mapped translation cache. It is owned by one Thread and
// touched only by the goroutine driving it; shootdowns reach it through
// the thread's flush queue, which that goroutine drains at the start of
// its next access.
type tlb struct {
	entries []tlbEntry
	mask    uint64
}

func (t *tlb) lookup(vpn uint64) *tlbEntry {
	e := &t.entries[vpn&t.mask]
	if e.vpn != vpn+1 {
		return nil
	}
	return e
}

func (t *tlb) fill(vpn uint64, slot *pgtable.Slot, pfn pgtable.PFN, write bool) *tlbEntry {
	e := &t.entries[vpn&t.mask]
	*e = tlbEntry{vpn: vpn + 1, slot: slot, pfn: pfn, write: write}
	return e
}

func (t *tlb) flushRange(start, end uint64) {
	first, last := start>>pgtable.PageShift, (end-1)>>pgtable.PageShift
	if last-first >= uint64(len(t.entries)) {
		clear(t.entries)
		return
	}
	for vpn := first; vpn <= last; vpn++ {
		if e := &t.entries[vpn&t.mask]; e.vpn == vpn+1 {
			*e = tlbEntry{}
		}
	}
}

// shootdownState is a thread's half of the TLB shootdown handshake.
//
// A thread sets active before it looks at its TLB or the page table and
// clears it when the access is done; a shooter queues the range, bumps
// gen, then waits until each thread is either not active or has seen the
// new gen. Go's atomics are sequentially consistent, so either the shooter
// sees the thread active (and waits for it), or the thread sees the new
// gen at the start of its access (and flushes before using any
// translation). This is the IPI handshake of flush_tlb_mm_range made of
// two atomics.
type shootdownState struct {
	active atomic.Uint32 // 1 while an access is in flight; written by the thread
	gen    atomic.Uint64 // bumped by shooters after queueing a range
	acked  atomic.Uint64 // the last gen the thread has applied; written by the thread

	mu      sync.Mutex // protects pending
	pending []span     // ranges to flush; full flush when too many
	// full asks for a flush of everything. Atomic, so that queue can
	// see it without mu; set by shooters and cleared by the thread,
	// both with mu held, and cleared only in the critical section in
	// which the thread empties its TLB (see queue).
	full atomic.Bool
}

// queue asks the thread to drop [start, end) from its TLB and returns the
// gen for wait.
//
// The range is recorded before gen is bumped: a thread that saw the new
// gen before the range was in pending would ack it without dropping the
// range, and wait would return while the thread still held a translation
// of freed frames.
//
// The shortcut: when a whole-TLB flush is already pending (full), the
// range is not recorded at all and no lock is taken, which keeps a
// shootdown of a thread that sits idle (the common case of a thread
// blocked elsewhere) to two atomics. The whole flush covers the range,
// because of this order of events:
//
//  1. The shooter zapped the range in the page table before calling
//     queue (change.go), so every page-table read that follows the load
//     of full below misses it.
//  2. The thread clears full only in applyFlushes, holding mu, in the
//     critical section in which it empties its TLB, and it fills no entry
//     there: it fills entries only in translate, after applyFlushes has
//     returned (whether it empties the TLB just before or just after it
//     stores false makes no difference, as nothing can look in between).
//  3. So if the load reads true, it precedes the thread's store of false
//     (Go's atomics are sequentially consistent). Every entry the thread
//     filled before that store is emptied with it; every entry it fills
//     afterwards comes from a page-table read that follows the store,
//     hence the load, hence the zap (1): none maps the range.
//  4. An access already in flight may have translated the range before
//     the zap: the gen bump after the load makes wait wait for it, since
//     the thread acks a gen only at the start of an access, after its
//     flush.
//
// TestShootdownQueueOrder and TestShootdownFullFlushShortcut fail if
// these orders change.
func (s *shootdownState) queue(start, end uint64) uint64 {
	if !s.full.Load() {
		s.mu.Lock()
		if len(s.pending) >= 8 {
			s.full.Store(true)
			s.pending = s.pending[:0]
		} else if !s.full.Load() {
			s.pending = append(s.pending, span{start, end})
		}
		s.mu.Unlock()
	}
	return s.gen.Add(1)
}

// wait blocks until the thread has no access in flight that began before
// gen was published. Free-running it spins briefly, then yields, then
// sleeps a microsecond at a time (sched.Spin); controlled, the shooter is
// not chosen until the access has ended.
func (s *shootdownState) wait(sc *sched.Sched, gen uint64) {
	if s.done(gen) {
		return
	}
	sc.Spin("tlb.shootdown.wait", time.Microsecond, func() bool { return s.done(gen) })
}

// done reports whether the thread has no access in flight that began
// before gen was published.
func (s *shootdownState) done(gen uint64) bool {
	return s.active.Load() == 0 || s.acked.Load() >= gen
}

// mmOwner is the address space as its MM's fault.Owner: a conversion of
// the pointer, so that handing it to the MM allocates nothing.
type mmOwner AddressSpace

// Shootdown is AddressSpace.shootdown.
func (o *mmOwner) Shootdown(start, end uint64) { (*AddressSpace)(o).shootdown(start, end) }

// ExpandStack is AddressSpace.expandStack.
func (o *mmOwner) ExpandStack(ctx *fault.Context, addr uint64) bool {
	return (*AddressSpace)(o).expandStack(ctx, addr)
}

// shootdown removes [start, end) from every thread's TLB and waits for
// their accesses in flight (flush_tlb_mm_range). It may be called with or
// without the mmap lock, but never from inside an access.
func (as *AddressSpace) shootdown(start, end uint64) {
	as.shootdownTraced(start, end, nil)
}

func (as *AddressSpace) shootdownTraced(start, end uint64, tb *trace.Buffer) {
	if as.cfg.Quirks.Has(QuirkNoShootdown) {
		return
	}
	threads := as.threads.all()
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.ShootdownBegin, Addr: start, Len: end - start, Target: -1})
	}
	gens := make([]uint64, len(threads))
	as.cfg.Sched.Point("tlb.shootdown")
	for i, t := range threads {
		gens[i] = t.sd.queue(start, end)
	}
	for i, t := range threads {
		t.sd.wait(as.cfg.Sched, gens[i])
	}
	as.stats.shootdowns.Add(1)
	if len(threads) > 0 {
		as.stats.remoteFlush.Add(1)
		as.stats.remoteFlushReceived.Add(int64(len(threads)))
	}
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.ShootdownEnd, Addr: start, Len: end - start, Target: -1})
	}
}

// threadSet is the address space's list of live threads, copied on
// write so that a shootdown can walk it without a lock.
type threadSet struct {
	mu     sync.Mutex                // serialises add and remove
	list   atomic.Pointer[[]*Thread] // the current list; never mutated
	nextID int                       // protected by mu
}

func (s *threadSet) all() []*Thread {
	if p := s.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *threadSet) add(t *Thread) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	old := s.all()
	n := make([]*Thread, len(old), len(old)+1)
	copy(n, old)
	n = append(n, t)
	s.list.Store(&n)
	return s.nextID
}

// remove takes t out of the set and reports whether it was in it.
func (s *threadSet) remove(t *Thread) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.all()
	n := make([]*Thread, 0, len(old))
	for _, x := range old {
		if x != t {
			n = append(n, x)
		}
	}
	if len(n) == len(old) {
		return false
	}
	s.list.Store(&n)
	return true
}
