package mmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
)

// A Thread is one simulated CPU running a user thread of the address
// space: it owns a TLB and an RCU reader, and its loads and stores fault
// like a real CPU's. One goroutine drives a Thread at a time; different
// Threads may run concurrently with each other and with the
// AddressSpace's syscalls.
type Thread struct {
	as   *AddressSpace // immutable
	id   int           // immutable
	name string        // immutable

	ctx fault.Context  // owned by the driving goroutine (Counters atomic)
	tlb tlb            // owned by the driving goroutine
	sd  shootdownState // shared with shooters; see its comment

	tlbHits   atomic.Int64 // published every 64 hits and at each miss
	tlbMisses atomic.Int64
	hits      int64 // owned by the driving goroutine: hits not yet published
	seenGen   uint64
	closed    bool // owned by the driving goroutine
	// fast is set when loads may take ReadUint64's inlined TLB-hit path:
	// no tracing and no Sched, whose points that path would skip.
	// Immutable.
	fast bool
}

// NewThread returns a new simulated CPU attached to the address space.
// Call Close when done with it. The AddressSpace's Close ends the threads
// left open: Stats no longer counts them (their counts stay in the
// totals) and their accesses and syscalls return ErrClosed; Thread.Close
// then only releases what the thread holds.
func (as *AddressSpace) NewThread() *Thread { return as.NewThreadNamed("") }

// NewThreadNamed is NewThread with a name for traces ("A", "B", ...); ""
// names it T<id>.
func (as *AddressSpace) NewThreadNamed(name string) *Thread {
	t := &Thread{as: as, tlb: tlb{entries: make([]tlbEntry, as.cfg.TLBEntries), mask: uint64(as.cfg.TLBEntries - 1)}}
	t.ctx.Reader = as.mm.RCU.Register()
	t.ctx.Counters = new(fault.Counters)
	t.id = as.threads.add(t)
	if name == "" {
		name = fmt.Sprintf("T%d", t.id)
	}
	t.name = name
	if as.rec != nil {
		t.ctx.Trace = as.rec.Track(name)
	}
	t.fast = t.ctx.Trace == nil && as.cfg.Sched == nil
	return t
}

// Track returns the thread's trace track, or nil when the address space
// does not trace (Config.Trace). Events on it must be emitted by the
// goroutine driving the thread.
func (t *Thread) Track() *trace.Buffer { return t.ctx.Trace }

// ID returns the thread's number, unique within its address space.
func (t *Thread) ID() int { return t.id }

// Name returns the name used in traces.
func (t *Thread) Name() string { return t.name }

// ErrThreadClosed is returned by every access and syscall made through a
// Thread after its Close. It is distinct from ErrClosed, which says that
// the address space itself is closed.
var ErrThreadClosed = errors.New("mmap: thread is closed")

// Close detaches the thread from the address space: its TLB is emptied,
// shootdowns stop waiting for it, and from then on every access and
// syscall through it returns ErrThreadClosed. Its counters stay in the
// address space's Stats. Close is idempotent; like every method of a
// Thread, it is called by the goroutine driving the thread.
func (t *Thread) Close() {
	if t.closed {
		return
	}
	t.closed = true
	// No shootdown reaches a thread once it leaves the set, so its TLB
	// must not be used again: empty it, and the closed check at the
	// start of every slow path keeps it empty (the fast path of
	// ReadUint64 only reads entries).
	clear(t.tlb.entries)
	t.publishHits()
	t.as.retire(t)
	t.ctx.Reader.Unregister()
}

func (t *Thread) publishHits() {
	if t.hits != 0 {
		t.tlbHits.Add(t.hits)
		t.hits = 0
	}
}

// begin opens an access: the thread becomes visible to shooters as
// active and applies any flush queued since its last access.
func (t *Thread) begin() {
	t.sd.active.Store(1)
	if g := t.sd.gen.Load(); g != t.seenGen {
		t.applyFlushes(g)
	}
}

func (t *Thread) end() { t.sd.active.Store(0) }

func (t *Thread) applyFlushes(g uint64) {
	t.sd.mu.Lock()
	if t.sd.full.Load() {
		clear(t.tlb.entries)
		t.sd.full.Store(false) // in the clear's critical section: see shootdownState.queue
	} else {
		for _, s := range t.sd.pending {
			t.tlb.flushRange(s.start, s.end)
		}
	}
	t.sd.pending = t.sd.pending[:0]
	t.sd.mu.Unlock()
	t.seenGen = g
	t.sd.acked.Store(g)
}

// translate returns the TLB entry translating addr for the access,
// filling it from the page table on a miss. It returns nil when the page
// table has no PTE allowing the access: the caller ends the access and
// faults. A translation found is the access's scheduling point
// ("tlb.hit", "tlb.fill"): in a controlled run other threads may take
// steps between it and the load or store that uses it, while the access
// is in flight, which a TLB shootdown must wait for.
//
// Preconditions: between begin and end.
func (t *Thread) translate(addr uint64, write bool) *tlbEntry {
	vpn := addr >> pgtable.PageShift
	if e := t.tlb.lookup(vpn); e != nil && (e.write || !write) {
		t.countHit()
		t.as.cfg.Sched.Point("tlb.hit")
		return e
	}
	t.tlbMisses.Add(1)
	pte := t.as.mm.Table.Lookup(addr)
	if !pte.Present() || pte&pgtable.PTERead == 0 || (write && pte&pgtable.PTEWrite == 0) {
		return nil
	}
	p := pte.PFN()
	e := t.tlb.fill(vpn, t.as.frames.Slot(p), p, pte&pgtable.PTEWrite != 0)
	t.as.cfg.Sched.Point("tlb.fill")
	return e
}

// countHit counts a TLB hit locally, publishing every 64 so that the hot
// path has no atomic read-modify-write of its own.
func (t *Thread) countHit() {
	t.hits++
	if t.hits == 64 {
		t.publishHits()
	}
}

// fault handles a miss that the page table could not satisfy.
func (t *Thread) fault(addr uint64, write bool) error {
	if !t.as.beginFault() {
		return ErrClosed
	}
	defer t.as.endFault()
	var flags fault.Flags
	if write {
		flags = fault.FlagWrite
	}
	out := t.as.mm.Handle(&t.ctx, addr, flags)
	if out == fault.BackingBroken {
		return t.ctx.Broken()
	}
	return signalOf(out, addr)
}

// maxRefaults bounds the faults one access makes at one address that
// each report success while the access still finds no translation. A
// racing munmap, madvise or truncation can zap a PTE between the fault
// and the access a few times in a row; this many means the backing says
// it mapped the page and did not.
const maxRefaults = 64

// refault is the fault of an access that has already faulted n times at
// addr, each fault reporting success: after maxRefaults it ends the
// access with the backing's ContractError instead of spinning.
func (t *Thread) refault(addr uint64, write bool, n int) error {
	if n < maxRefaults {
		return t.fault(addr, write)
	}
	name := "anonymous memory"
	t.as.mm.ReadLock()
	if v := t.as.mm.Tree.Snapshot().Find(addr); v != nil && v.Backing != nil {
		name = v.Backing.Name()
	}
	t.as.mm.ReadUnlock()
	return &ContractError{Backing: name, Addr: addr &^ pgtable.PageMask, Broke: fmt.Sprintf(
		"%d faults in a row reported the page mapped, but no PTE maps it for this access (NoPage without mapping it, or a page mapped at another address)", n)}
}

func signalOf(out fault.Outcome, addr uint64) error {
	switch out {
	case fault.OK:
		return nil
	case fault.SegvMapErr:
		return &SignalError{Signo: SIGSEGV, Code: SegvMaperr, Addr: addr}
	case fault.SegvAccErr:
		return &SignalError{Signo: SIGSEGV, Code: SegvAccerr, Addr: addr}
	case fault.BusAdrErr:
		return &SignalError{Signo: SIGBUS, Code: BusAdrerr, Addr: addr}
	}
	return ENOMEM // VM_FAULT_OOM: Linux would invoke the OOM killer
}

// Fault runs the fault handler for addr as the CPU would on a miss
// (handle_mm_fault), without accessing memory. It returns nil once a PTE
// allowing the access is installed, the *SignalError to deliver, or
// ENOMEM when no physical frame is left (VM_FAULT_OOM, where Linux would
// run the OOM killer), or a *ContractError when the mapping's backing
// broke its contract. Every access returns the same errors, and
// ErrThreadClosed or ErrClosed once the thread or its address space is
// closed.
func (t *Thread) Fault(addr uint64, write bool) error {
	if t.closed {
		return ErrThreadClosed
	}
	if addr >= TaskSize {
		return &SignalError{Signo: SIGSEGV, Code: SegvMaperr, Addr: addr}
	}
	return t.fault(addr, write)
}

// ReadUint64 loads the 8 bytes at addr (little-endian). An aligned load
// is atomic, as on x86; an unaligned one is a byte-wise Read.
func (t *Thread) ReadUint64(addr uint64) (uint64, error) {
	// Fast path: a TLB hit with no flush pending, tracing off and no
	// Sched.
	if addr&7 == 0 && t.fast {
		t.sd.active.Store(1)
		if t.sd.gen.Load() == t.seenGen {
			vpn := addr >> pgtable.PageShift
			if e := &t.tlb.entries[vpn&t.tlb.mask]; e.vpn == vpn+1 {
				v := e.slot.Load((addr & pgtable.PageMask) >> 3)
				t.sd.active.Store(0)
				t.countHit()
				return v, nil
			}
		}
		t.sd.active.Store(0)
	}
	return t.readUint64Slow(addr)
}

func (t *Thread) readUint64Slow(addr uint64) (uint64, error) {
	if t.closed {
		return 0, ErrThreadClosed
	}
	if addr&7 != 0 || addr >= TaskSize {
		var b [8]byte
		err := t.Read(addr, b[:])
		return binary.LittleEndian.Uint64(b[:]), err
	}
	word := (addr & pgtable.PageMask) >> 3
	for tries := 0; ; tries++ {
		t.begin()
		if e := t.translate(addr, false); e != nil {
			v := e.slot.Load(word)
			// Stamped before the access ends, so that a trace never
			// shows a load after a shootdown that waited for it.
			if tb := t.ctx.Trace; tb != nil {
				tb.Emit(trace.Event{Kind: trace.Load, Addr: addr, Value: v})
			}
			t.end()
			return v, nil
		}
		t.end()
		if err := t.refault(addr, false, tries); err != nil {
			t.traceSignal(addr, err)
			return 0, err
		}
	}
}

// WriteUint64 stores v at addr (little-endian). An aligned store is
// atomic, as on x86; an unaligned one is a byte-wise Write.
func (t *Thread) WriteUint64(addr uint64, v uint64) error {
	if t.closed {
		return ErrThreadClosed
	}
	if addr&7 != 0 || addr >= TaskSize {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		return t.Write(addr, b[:])
	}
	word := (addr & pgtable.PageMask) >> 3
	for tries := 0; ; tries++ {
		t.begin()
		if e := t.translate(addr, true); e != nil {
			e.slot.Store(word, v)
			if tb := t.ctx.Trace; tb != nil {
				tb.Emit(trace.Event{Kind: trace.Store, Addr: addr, Value: v})
			}
			t.end()
			return nil
		}
		t.end()
		if err := t.refault(addr, true, tries); err != nil {
			t.traceSignal(addr, err)
			return err
		}
	}
}

func (t *Thread) traceSignal(addr uint64, err error) {
	tb := t.ctx.Trace
	if tb == nil {
		return
	}
	arg := err.Error()
	var se *SignalError
	if errors.As(err, &se) {
		arg = se.Signo.String() + " " + se.codeName()
	}
	tb.Emit(trace.Event{Kind: trace.Signal, Addr: addr, Arg: arg})
}

// Read copies len(p) bytes from addr into p, page by page, faulting as
// needed. On a signal it returns the error for the first inaccessible
// byte; the bytes before it have been read.
func (t *Thread) Read(addr uint64, p []byte) error {
	return t.access(addr, p, false)
}

// Write copies p to addr, page by page, faulting as needed. On a signal
// the bytes before the faulting one have been written.
func (t *Thread) Write(addr uint64, p []byte) error {
	return t.access(addr, p, true)
}

func (t *Thread) access(addr uint64, p []byte, write bool) error {
	if t.closed {
		return ErrThreadClosed
	}
	for len(p) > 0 {
		if addr >= TaskSize {
			return &SignalError{Signo: SIGSEGV, Code: SegvMaperr, Addr: addr}
		}
		off := int(addr & pgtable.PageMask)
		n := min(len(p), pgtable.PageSize-off)
		for tries := 0; ; tries++ {
			t.begin()
			if e := t.translate(addr, write); e != nil {
				if write {
					t.as.frames.WriteAt(e.pfn, p[:n], off)
				} else {
					t.as.frames.ReadAt(e.pfn, p[:n], off)
				}
				t.end()
				break
			}
			t.end()
			if err := t.refault(addr, write, tries); err != nil {
				return err
			}
		}
		addr += uint64(n)
		p = p[n:]
	}
	return nil
}

// Mmap is AddressSpace.Mmap made by this thread: the same call, traced on
// the thread's own track.
func (t *Thread) Mmap(addr, length uint64, prot Prot, flags Flag, file *File, offset uint64) (uint64, error) {
	if t.closed {
		return 0, ErrThreadClosed
	}
	return t.as.mmapTraced(addr, length, prot, flags, file, offset, t.ctx.Trace)
}

// MmapBacking is AddressSpace.MmapBacking made by this thread.
func (t *Thread) MmapBacking(addr, length uint64, prot Prot, flags Flag, b Backing, offset uint64) (uint64, error) {
	if t.closed {
		return 0, ErrThreadClosed
	}
	return t.as.mmapBackingTraced(addr, length, prot, flags, b, offset, t.ctx.Trace)
}

// Munmap is AddressSpace.Munmap made by this thread.
func (t *Thread) Munmap(addr, length uint64) error {
	if t.closed {
		return ErrThreadClosed
	}
	return t.as.munmapTraced(addr, length, t.ctx.Trace)
}

// Mprotect is AddressSpace.Mprotect made by this thread.
func (t *Thread) Mprotect(addr, length uint64, prot Prot) error {
	if t.closed {
		return ErrThreadClosed
	}
	return t.as.mprotectTraced(addr, length, prot, t.ctx.Trace)
}

// Mremap is AddressSpace.Mremap made by this thread.
func (t *Thread) Mremap(oldAddr, oldLen, newLen uint64, flags MremapFlag, newAddr uint64) (uint64, error) {
	if t.closed {
		return 0, ErrThreadClosed
	}
	return t.as.mremapTraced(oldAddr, oldLen, newLen, flags, newAddr, t.ctx.Trace)
}

// Madvise is AddressSpace.Madvise made by this thread.
func (t *Thread) Madvise(addr, length uint64, advice Advice) error {
	if t.closed {
		return ErrThreadClosed
	}
	return t.as.madviseTraced(addr, length, advice, t.ctx.Trace)
}
