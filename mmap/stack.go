package mmap

import (
	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// Stack growth: a fault in the gap just below a MAP_GROWSDOWN VMA grows
// the VMA down to the faulting page, as Linux 6.5+ does (mm/memory.c:
// lock_mm_and_find_vma() → mm/mmap.c: expand_stack_locked() →
// expand_downwards() → acct_stack_growth()). The fault handler (package
// fault) calls expandStack from its mmap-lock path when the VMA above the
// address is VM_GROWSDOWN; expandStack decides under the mmap write lock
// whether the growth is allowed and makes it.

// DefaultStackLimit is the StackLimit of a zero Config: Linux's default
// RLIMIT_STACK soft limit, 8 MiB (include/uapi/linux/resource.h:
// _STK_LIM).
const DefaultStackLimit uint64 = 8 << 20

// expandStack is the fault package's Owner.ExpandStack: it takes the mmap
// write lock, looks the VMA above addr up again (the read lock was
// dropped, so it may have changed, as after Linux's failed
// mmap_upgrade_trylock()), grows it if expand_downwards() allows, and
// reports whether a VMA now covers addr. The grown VMA replaces the old
// one in one publish, so a lockless reader finds one or the other, never
// a gap.
func (as *AddressSpace) expandStack(ctx *fault.Context, addr uint64) bool {
	addr &^= pgtable.PageMask
	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return false
	}
	c := as.beginLocked("expand_stack", ctx.Trace)
	v := c.tx.FindNext(addr)
	switch {
	case v == nil || v.Flags&vma.FlagGrowsDown == 0:
		c.abortLocked()
		return false
	case v.Start <= addr:
		c.abortLocked()
		return true // a racing fault grew it, or a mapping appeared
	}
	n, ok := c.expandDownwardsLocked(ctx, v, addr)
	if !ok {
		c.abortLocked()
		return false
	}
	// Linux changes vm_start and vm_pgoff in place under vma_start_write()
	// and the anon_vma lock; here VMAs are immutable, so the grown copy
	// replaces v in the order of every change (change.go): mark and
	// detach v, insert n, publish. No PTE changes: [v.Start, v.End) keeps
	// its translations, and nothing was mapped in [addr, v.Start). Linux
	// does not merge a grown stack with its neighbour, and neither does
	// this.
	c.removeLocked(v)
	c.detachLocked()
	c.insertLocked(n)
	as.lockLocked(v.Flags, v.Start-addr) // expand_downwards(): mm->locked_vm += grow
	c.finishLocked()
	as.stats.stackGrowths.Add(1)
	return true
}

// expandDownwardsLocked checks whether v, a VM_GROWSDOWN VMA starting
// above addr (page-aligned), may grow down to addr, and if so returns
// the grown copy, not yet inserted (mm/mmap.c: expand_downwards() and
// acct_stack_growth(), Linux 6.18). The refusals, in Linux's order:
//   - addr below mmap_min_addr (EPERM);
//   - the VMA below is not a stack, is accessible (vma_is_accessible())
//     and ends less than stack_guard_gap below addr (ENOMEM);
//   - then, after anon_vma_prepare(), which therefore happens even when
//     the growth is refused: a page offset that would go below 0, and a
//     stack larger than RLIMIT_STACK (Config.StackLimit) (ENOMEM);
//   - a VM_LOCKED stack whose growth would pass RLIMIT_MEMLOCK
//     (Config.MemlockLimit) (ENOMEM).
//
// acct_stack_growth()'s other checks do not apply to the model:
// may_expand_vm() (RLIMIT_AS and RLIMIT_DATA), hugetlb-only ranges and
// overcommit are not simulated,
// and growing a VMA adds none, so max_map_count is not checked.
//
// Preconditions: the mmap write lock is held and c is open.
func (c *change) expandDownwardsLocked(ctx *fault.Context, v *vma.VMA, addr uint64) (*vma.VMA, bool) {
	as := c.as
	if addr < as.cfg.MinAddr {
		return nil, false
	}
	if p := c.tx.Prev(v.Start); p != nil && p.Flags&vma.FlagGrowsDown == 0 &&
		p.Prot&(vma.ProtRead|vma.ProtWrite|vma.ProtExec) != 0 && addr-p.End < stackGuardGap {
		return nil, false
	}
	// "We must make sure the anon_vma is allocated."
	as.mm.PrepareAnon(ctx, v)
	grow := (v.Start - addr) >> pgtable.PageShift
	if grow > v.Pgoff {
		return nil, false
	}
	if v.End-addr > as.cfg.StackLimit {
		return nil, false
	}
	// acct_stack_growth(): "mlock limit tests".
	if !as.mlockFutureOKLocked(v.Flags, grow<<pgtable.PageShift) {
		return nil, false
	}
	n := v.Copy() // keeps the anon_vma, the backing and the release func
	n.Start = addr
	n.Pgoff -= grow
	return n, true
}
