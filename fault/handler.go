package fault

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Outcome is how a fault ended, in the terms the CPU reports to the
// thread: success, or the signal and si_code to deliver.
type Outcome uint8

const (
	// OK: the translation is now installed; retry the access.
	OK Outcome = iota
	// SegvMapErr: no VMA covers the address (SIGSEGV, SEGV_MAPERR).
	SegvMapErr
	// SegvAccErr: the VMA forbids the access (SIGSEGV, SEGV_ACCERR).
	SegvAccErr
	// BusAdrErr: the page lies beyond the end of its file (SIGBUS,
	// BUS_ADRERR).
	BusAdrErr
	// OutOfMemory: no physical frame was left (VM_FAULT_OOM).
	OutOfMemory
	// BackingBroken: the backing broke its contract; Context.Broken
	// says how.
	BackingBroken
)

var outcomeNames = [...]string{"ok", "SIGSEGV/SEGV_MAPERR", "SIGSEGV/SEGV_ACCERR", "SIGBUS/BUS_ADRERR", "OOM", "backing broke its contract"}

// String returns the outcome as "ok" or "SIGNAL/CODE".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(?)"
}

// Handle resolves a fault at addr by the MM's policy: Linux's
// do_user_addr_fault down to handle_mm_fault. It returns OK once a PTE
// allowing the access is installed (or was installed by a racing fault),
// or the signal to deliver.
//
// Handle is safe for concurrent use by many Contexts; ctx is owned by the
// calling goroutine, which must not be inside ctx.Reader's read-side
// section.
func (mm *MM) Handle(ctx *Context, addr uint64, flags Flags) Outcome {
	// A backing that panics (Fault, MapPages, Sizer.Pages) unwinds
	// through here: what the fault holds is released on the way.
	done := false
	defer func() {
		if !done {
			ctx.abandon()
		}
	}()
	ctx.Counters.Pgfault.Add(1)
	addr &^= pgtable.PageMask
	if tb := ctx.Trace; tb != nil {
		tb.Emit(trace.Event{Kind: trace.FaultBegin, Addr: addr, Arg: accessName(flags)})
	}
	var out Outcome
	switch mm.cfg.Policy {
	case PolicyMmapLock:
		out = mm.faultMmapLock(ctx, addr, flags)
	case PolicyPerVMALock:
		out = mm.faultPerVMA(ctx, addr, flags)
	default:
		out = mm.faultRCU(ctx, addr, flags)
	}
	done = true
	mm.count(ctx, out)
	if tb := ctx.Trace; tb != nil {
		e := trace.Event{Kind: trace.FaultEnd, Addr: addr}
		if out != OK {
			e.Err = out.String()
		}
		tb.Emit(e)
	}
	return out
}

func accessName(flags Flags) string {
	switch {
	case flags&FlagWrite != 0:
		return "write"
	case flags&FlagExec != 0:
		return "exec"
	}
	return "read"
}

func (mm *MM) count(ctx *Context, out Outcome) {
	c := ctx.Counters
	switch out {
	case SegvMapErr:
		c.SegvMaperr.Add(1)
	case SegvAccErr:
		c.SegvAccerr.Add(1)
	case BusAdrErr:
		c.Sigbus.Add(1)
	case OutOfMemory:
		c.OOM.Add(1)
	}
}

// accessError mirrors arch/x86/mm/fault.c: access_error(). On x86 a
// writable or executable mapping is also readable.
func accessError(prot vma.Prot, flags Flags) bool {
	switch {
	case flags&FlagWrite != 0:
		return prot&vma.ProtWrite == 0
	case flags&FlagExec != 0:
		return prot&vma.ProtExec == 0
	}
	return prot&(vma.ProtRead|vma.ProtWrite|vma.ProtExec) == 0
}

// outcomeOf turns a backing's Result into what the thread sees.
func outcomeOf(res Result) Outcome {
	switch {
	case res&broken != 0:
		return BackingBroken
	case res&OOM != 0:
		return OutOfMemory
	case res&SIGBUS != 0:
		return BusAdrErr
	case res&SIGSEGV != 0:
		return SegvMapErr
	}
	return OK
}

// newFault fills in the Context's VMFault for a fault on v. The
// descriptor lives in the Context, which one goroutine owns, so passing it
// to a backing through an interface costs no allocation per fault.
func (mm *MM) newFault(ctx *Context, v *vma.VMA, addr uint64, flags Flags) *VMFault {
	ctx.vf = VMFault{VMA: v, Address: addr, Pgoff: v.Pgoff + (addr-v.Start)>>pgtable.PageShift, Flags: flags, mm: mm, ctx: ctx, backing: v.Backing}
	return &ctx.vf
}

// lookup finds the VMA covering addr in the published tree: a scheduling
// point, then one atomic load and a search.
//
// Preconditions: the caller is inside an RCU read-side section or holds
// the mmap lock.
func (mm *MM) lookup(ctx *Context, addr uint64) *vma.VMA {
	mm.s.Point("tree.lookup")
	snap := mm.Tree.Snapshot()
	v := snap.Find(addr)
	mm.traceLookup(ctx, addr, v, snap.Version())
	return v
}

// The trace helpers test for a trace inline and emit out of line, so that
// a fault with tracing off pays one nil check for each.

func (mm *MM) traceLookup(ctx *Context, addr uint64, v *vma.VMA, version uint64) {
	if ctx.Trace != nil {
		emitLookup(ctx.Trace, addr, v, version)
	}
}

//go:noinline
func emitLookup(tb *trace.Buffer, addr uint64, v *vma.VMA, version uint64) {
	arg := "none"
	if v != nil {
		arg = v.String()
	}
	tb.Emit(trace.Event{Kind: trace.Lookup, Addr: addr, Arg: arg, Value: version})
}

func traceStep(ctx *Context, k trace.Kind, addr uint64, why string) {
	if tb := ctx.Trace; tb != nil {
		emitStep(tb, k, addr, why)
	}
}

//go:noinline
func emitStep(tb *trace.Buffer, k trace.Kind, addr uint64, why string) {
	tb.Emit(trace.Event{Kind: k, Addr: addr, Arg: why})
}

// faultRCU is PolicyRCURefcount: bounded lockless attempts, then the mmap
// read lock.
func (mm *MM) faultRCU(ctx *Context, addr uint64, flags Flags) Outcome {
	for try := 0; try < mm.cfg.MaxRetries; try++ {
		if try > 0 {
			flags |= FlagTried
			ctx.Counters.Retries.Add(1)
		}
		if out, done := mm.tryRCU(ctx, addr, flags); done {
			return out
		}
	}
	return mm.fallback(ctx, addr, flags, "retries exhausted")
}

// tryRCU is one lockless attempt of Wilcox's scheme. done is false when
// the attempt lost a race with a writer and should be repeated.
func (mm *MM) tryRCU(ctx *Context, addr uint64, flags Flags) (out Outcome, done bool) {
	r := ctx.Reader
	r.Lock()
	v := mm.lookup(ctx, addr)
	if v == nil {
		r.Unlock()
		if mm.cfg.Quirks.Has(QuirkNoLockFallback) {
			return SegvMapErr, true
		}
		return mm.fallback(ctx, addr, flags, "no vma"), true
	}
	if !v.Attached() {
		// A writer is replacing it: its successor is not published yet.
		r.Unlock()
		traceStep(ctx, trace.Retry, addr, "vma detached")
		return OK, false
	}
	if v.WriteLocked(mm.lockSeq.Load()) {
		// Fork write-marks the parent's VMAs while it copies them
		// (vma_start_write) and then waits for a grace period, so a
		// lockless fault that sees no mark cannot still be installing
		// when the copy starts; one that sees the mark waits for the
		// copy under the mmap lock.
		r.Unlock()
		return mm.fallback(ctx, addr, flags, "vma write-locked"), true
	}
	// The VMA is immutable and was attached when we looked, so this is
	// the access check at that instant.
	if accessError(v.Prot, flags) {
		r.Unlock()
		return SegvAccErr, true
	}
	if flags&FlagWrite != 0 && v.Flags&vma.FlagShared == 0 && v.AnonVMA() == 0 {
		// A private write needs the VMA's anon_vma. Preparing one
		// reads the neighbours (find_mergeable_anon_vma), and a writer
		// splitting or merging v copies v's anon_vma state without
		// excluding this fault: a page tagged with an anon_vma given
		// after the copy would be mapped by a VMA whose chain lacks it.
		// So it is done under the mmap lock, as Linux's
		// lock_vma_under_rcu() falls back when vma->anon_vma is unset.
		r.Unlock()
		return mm.fallback(ctx, addr, flags, "no anon_vma"), true
	}
	vf := mm.newFault(ctx, v, addr, flags|FlagAllowRetry|FlagRCU)
	traceStep(ctx, trace.FastPath, addr, "")
	res := mm.mapFast(vf)
	if res&NoPage != 0 {
		r.Unlock()
		ctx.Counters.FastPath.Add(1)
		return OK, true
	}
	if res.Error() {
		r.Unlock()
		return outcomeOf(res), true
	}
	// Slow path: pin the VMA, leave RCU, and let the backing sleep.
	mm.s.Point("vma.tryget")
	if !v.TryGet() {
		r.Unlock()
		traceStep(ctx, trace.Retry, addr, "tryget failed")
		return OK, false
	}
	vf.pin = pinRef
	r.Unlock()
	if v.WriteLocked(mm.lockSeq.Load()) {
		// Marked since the check above: a writer that marked v before
		// our reference was taken did not wait for it (as in
		// vma_start_read, the mark is checked again once the count is
		// raised).
		v.Put()
		return mm.fallback(ctx, addr, flags, "vma write-locked"), true
	}
	traceStep(ctx, trace.SlowPath, addr, "")
	vf.Flags &^= FlagRCU
	res = mm.doFault(vf)
	mm.s.Point("vma.put")
	vf.unpin()
	if res&Retry != 0 {
		traceStep(ctx, trace.Retry, addr, "fault retry")
		return OK, false
	}
	if !res.Error() {
		ctx.Counters.SlowPath.Add(1)
	}
	return outcomeOf(res), true
}

// mapFast is the part of a fault that may run under RCU with no
// reference: anonymous memory, or the backing's MapPages. It returns
// NoPage when done and Retry when the slow path is needed.
func (mm *MM) mapFast(vf *VMFault) Result {
	if res := mm.anonOrReuse(vf); res != 0 {
		return res
	}
	pm, ok := vf.VMA.Backing.(PageMapper)
	if !ok || vf.Write() {
		return Retry // ->map_pages serves read faults only (do_read_fault)
	}
	start, end := mm.faultAround(vf)
	mm.s.Point("fault.map_pages")
	return pm.MapPages(vf, start, end)
}

// anonOrReuse handles what needs no backing call, on either path: a
// write to an anonymous page already mapped (reused or copied), and
// private anonymous memory. It returns 0 when the backing must be asked.
func (mm *MM) anonOrReuse(vf *VMFault) Result {
	if vf.Write() {
		if res := mm.wpFault(vf); res != 0 {
			return res
		}
	}
	if vf.VMA.Backing == nil {
		return mm.anonFault(vf)
	}
	return 0
}

// faultAround returns the page-offset window [start, end) that MapPages
// may map around vf: fault_around_bytes aligned, clamped to the VMA and
// to one page-table leaf (mm/memory.c: do_fault_around).
func (mm *MM) faultAround(vf *VMFault) (start, end uint64) {
	v := vf.VMA
	n := uint64(mm.cfg.FaultAroundPages) * pgtable.PageSize
	lo := vf.Address &^ (n - 1)
	hi := lo + n
	leafLo := vf.Address &^ (pgtable.LeafSize - 1)
	lo = max(lo, v.Start, leafLo)
	hi = min(hi, v.End, leafLo+pgtable.LeafSize)
	return v.Pgoff + (lo-v.Start)>>pgtable.PageShift, v.Pgoff + (hi-v.Start)>>pgtable.PageShift
}

// doFault is the slow path once the VMA is pinned (by a reference, its
// VMA read lock, or the mmap lock): anonymous memory, or the backing's
// Fault followed by finishFault. Linux: do_fault / do_read_fault /
// do_cow_fault / do_shared_fault.
func (mm *MM) doFault(vf *VMFault) Result {
	if res := mm.anonOrReuse(vf); res != 0 {
		return res
	}
	ops, ok := vf.VMA.Backing.(Ops)
	if !ok {
		return SIGBUS
	}
	if vf.Write() && vf.VMA.Flags&vma.FlagShared == 0 {
		// mm/memory.c: do_cow_fault() prepares the anon_vma before
		// __do_fault() asks the backing for the page, so a write fault
		// that then fails (a page beyond EOF: SIGBUS) still leaves one.
		mm.prepareAnon(vf)
	}
	mm.s.Point("fault.fault")
	res := ops.Fault(vf)
	if res&Major != 0 {
		vf.ctx.Counters.Pgmajfault.Add(1)
	}
	switch {
	case vf.released && res&Retry == 0 && !res.Error():
		// vf.VMA may be gone: nothing may be installed in it. A page
		// handed over is the handler's to put.
		if res&NoPage == 0 {
			mm.Frames.Put(vf.Page)
		}
		return vf.broke("Fault returned success after ReleaseForIO dropped the fault's lock (it must return Retry)")
	case res&(Retry|NoPage) != 0 || res.Error():
		return res
	case vf.Page == pgtable.ZeroPFN:
		return vf.broke("Fault returned success without a page (VMFault.Page unset)")
	}
	return mm.finishFault(vf) | res&Major
}

// doFaultPinned runs a fault whose VMA cannot be detached under it (mmap
// lock or VMA read lock held): fault-around first for reads, as
// do_read_fault does, then the slow path.
func (mm *MM) doFaultPinned(vf *VMFault) Result {
	v := vf.VMA
	if v.Backing != nil && !vf.Write() {
		if pm, ok := v.Backing.(PageMapper); ok {
			start, end := mm.faultAround(vf)
			mm.s.Point("fault.map_pages")
			if res := pm.MapPages(vf, start, end); res&NoPage != 0 {
				return res
			}
		}
	}
	return mm.doFault(vf)
}

// fallback is the last resort of the lockless policies: the mmap read
// lock, under which no writer can change the tree.
func (mm *MM) fallback(ctx *Context, addr uint64, flags Flags, why string) Outcome {
	ctx.Counters.Fallbacks.Add(1)
	traceStep(ctx, trace.Fallback, addr, why)
	return mm.faultMmapLock(ctx, addr, flags)
}

// faultMmapLock handles a fault with the mmap lock read-held from lookup
// to install, as every kernel before 6.4 did.
func (mm *MM) faultMmapLock(ctx *Context, addr uint64, flags Flags) Outcome {
	ctx.Counters.LockedFaults.Add(1)
	for try := 0; ; try++ {
		mm.lock.RLock()
		v := mm.lookup(ctx, addr)
		if v == nil {
			// mm/memory.c: lock_mm_and_find_vma(): the VMA above may be
			// a stack that grows down to addr (Linux 6.5+).
			grows := mm.growsInto(mm.Tree.Snapshot(), addr)
			mm.lock.RUnlock()
			if grows && mm.expandStack(ctx, addr) {
				continue // the VMA covers addr now: look it up again
			}
			return SegvMapErr
		}
		if accessError(v.Prot, flags) {
			mm.lock.RUnlock()
			return SegvAccErr
		}
		vf := mm.newFault(ctx, v, addr, flags)
		if flags&FlagTried == 0 {
			vf.Flags |= FlagAllowRetry
		}
		vf.pin = pinMmapLock
		res := mm.doFaultPinned(vf)
		vf.unpin()
		// Retry means the backing dropped the lock for I/O, or the page
		// went past EOF under us (truncate): the next attempt finds the
		// page cached, or reports SIGBUS. The bound only guards against
		// a misbehaving backing.
		if res&Retry == 0 || try >= 8 {
			if res&Retry != 0 {
				return outcomeOf(vf.broke("Fault returned Retry 9 times in a row under the mmap lock"))
			}
			if !res.Error() {
				ctx.Counters.SlowPath.Add(1)
			}
			return outcomeOf(res)
		}
		flags |= FlagTried
	}
}

// faultPerVMA is PolicyPerVMALock: Linux 6.4+ lock_vma_under_rcu, then the
// fault under the VMA's read lock, falling back to the mmap lock when the
// lock cannot be taken or the fault asks to be retried.
func (mm *MM) faultPerVMA(ctx *Context, addr uint64, flags Flags) Outcome {
	c := ctx.Counters
	r := ctx.Reader
	r.Lock()
	v := mm.lookup(ctx, addr)
	if v == nil {
		r.Unlock()
		c.VMALockAbort.Add(1)
		if mm.cfg.Quirks.Has(QuirkNoLockFallback) {
			return SegvMapErr
		}
		return mm.fallback(ctx, addr, flags, "no vma")
	}
	if !v.TryReadLock(mm.lockSeq.Load()) {
		// Read inside the section: once it ends, with no reference, a
		// writer may free v (lock_vma_under_rcu also tests the VMA's
		// detached state under rcu_read_lock).
		detached := !v.Attached()
		r.Unlock()
		if mm.testVMALockRefused != nil {
			mm.testVMALockRefused()
		}
		if detached {
			c.VMALockMiss.Add(1)
		}
		c.VMALockAbort.Add(1)
		return mm.fallback(ctx, addr, flags, "vma lock refused")
	}
	r.Unlock()
	if accessError(v.Prot, flags) {
		v.ReadUnlock()
		c.VMALockSuccess.Add(1)
		return SegvAccErr
	}
	vf := mm.newFault(ctx, v, addr, flags|FlagVMALock|FlagAllowRetry)
	vf.pin = pinVMALock
	res := mm.doFaultPinned(vf)
	vf.unpin()
	if res&Retry != 0 {
		c.VMALockRetry.Add(1)
		return mm.fallback(ctx, addr, flags|FlagTried, "fault retry")
	}
	c.VMALockSuccess.Add(1)
	if !res.Error() {
		c.SlowPath.Add(1)
	}
	return outcomeOf(res)
}
