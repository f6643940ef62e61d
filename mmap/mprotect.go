package mmap

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Mprotect changes the protection of the pages in [addr, addr+length).
// Like Linux it applies the change VMA by VMA and stops at the first hole
// or refusal: the VMAs before it keep their new protection and the call
// returns ENOMEM (hole) or EACCES (a shared mapping of a read-only file
// cannot become writable). When it returns, no thread can still use a
// permission it removed (mm/mprotect.c: do_mprotect_pkey).
func (as *AddressSpace) Mprotect(addr, length uint64, prot Prot) error {
	return as.mprotectTraced(addr, length, prot, as.sysTrack)
}

func (as *AddressSpace) mprotectTraced(addr, length uint64, prot Prot, tb *trace.Buffer) error {
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "mprotect", Addr: addr, Len: length,
			Arg: fmt.Sprintf("%#x, %#x, %s", addr, length, prot)})
	}
	err := as.doMprotect(addr, length, prot, tb)
	traceEnd(tb, "mprotect", 0, err)
	return err
}

// PROT_* bits that only mprotect understands
// (include/uapi/asm-generic/mman-common.h).
const (
	protSem       Prot = 0x8        // accepted and ignored (arch_validate_prot)
	protGrowsDown Prot = 0x01000000 // extend the change down to the start of a MAP_GROWSDOWN VMA
	protGrowsUp   Prot = 0x02000000 // x86 has no VM_GROWSUP: always EINVAL
)

// doMprotect mirrors mm/mprotect.c: do_mprotect_pkey(), its checks in
// their order and its walk: each VMA of the range is changed in turn; a
// hole, or a VMA that refuses the protection, stops the walk with the
// VMAs before it already changed.
func (as *AddressSpace) doMprotect(start, length uint64, prot Prot, tb *trace.Buffer) error {
	grows := prot & (protGrowsDown | protGrowsUp)
	prot &^= grows
	if grows == protGrowsDown|protGrowsUp {
		return EINVAL // cannot be both
	}
	if start&pgtable.PageMask != 0 {
		return EINVAL
	}
	if length == 0 {
		return nil
	}
	length = pageAlign(length)
	end := start + length
	if end <= start {
		return ENOMEM
	}
	// arch_validate_prot(): only R, W, X and PROT_SEM.
	if prot&^(protMask|protSem) != 0 {
		return EINVAL
	}
	prot &= protMask

	fill, err := as.mprotectLocked(start, end, prot, grows, tb)
	// mprotect_fixup() populates a locked private VMA that becomes
	// writable while it holds the mmap write lock; vmsim's faults need
	// that lock, so the ranges are populated right after the call
	// releases it. A caller that runs Mprotect alone sees the same.
	for _, s := range fill {
		as.populate(s.start, s.end-s.start, prot, true)
	}
	return err
}

// mprotectLocked is the walk of do_mprotect_pkey() under the mmap write
// lock. It returns the ranges that mprotect_fixup() would populate.
func (as *AddressSpace) mprotectLocked(start, end uint64, prot, grows Prot, tb *trace.Buffer) ([]span, error) {
	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return nil, ErrClosed
	}
	c := as.beginLocked("mprotect", tb)
	v := c.tx.FindNext(start)
	if v == nil || v.Start >= end {
		c.abortLocked()
		return nil, ENOMEM
	}
	if grows&protGrowsDown != 0 {
		// PROT_GROWSDOWN: the change starts at the VMA's start.
		start = v.Start
		if v.Flags&vma.FlagGrowsDown == 0 {
			c.abortLocked()
			return nil, EINVAL
		}
	} else {
		if v.Start > start {
			c.abortLocked()
			return nil, ENOMEM
		}
		if grows&protGrowsUp != 0 {
			c.abortLocked()
			return nil, EINVAL
		}
	}
	var err error
	var fill []span
	nstart, tmp := start, v.Start
	for v != nil && v.Start < end {
		if v.Start != tmp {
			err = ENOMEM // a hole
			break
		}
		tmp = min(v.End, end)
		// "Private VM_LOCKED VMA becoming writable: trigger COW to
		// avoid major fault on access."
		populate := v.Flags&(flagLocked|vma.FlagShared) == flagLocked &&
			v.Prot&vma.ProtWrite == 0 && prot&ProtWrite != 0
		var m *vma.VMA
		if m, err = c.mprotectVMALocked(v, nstart, tmp, prot); err != nil {
			break
		}
		if populate {
			fill = append(fill, span{nstart, tmp})
		}
		// vma_iter_end(): the VMA now covering the range may reach
		// further, merged with the next one.
		tmp = m.End
		nstart = tmp
		v = c.tx.FindNext(tmp)
	}
	if err == nil && tmp < end {
		err = ENOMEM
	}
	c.finishLocked()
	if err == nil {
		as.stats.mprotects.Add(1) // successful calls only, as Stats says
	}
	return fill, err
}

// mprotectVMALocked gives [s, e) of v the protection prot (mm/mprotect.c:
// mprotect_fixup): split off the parts outside the range, detach v,
// change its PTEs, and insert the changed part merged with its
// neighbours. It returns the VMA covering the range afterwards.
func (c *change) mprotectVMALocked(v *vma.VMA, s, e uint64, prot Prot) (*vma.VMA, error) {
	newProt := vma.Prot(prot)
	// "newflags >> 4 shift VM_MAY% in place of VM_%": only VM_MAYWRITE
	// can be missing (a shared mapping of a read-only file).
	if newProt&vma.ProtWrite != 0 && v.Flags&vma.FlagMayWrite == 0 {
		return nil, EACCES
	}
	if newProt == v.Prot {
		return v, nil // nothing to do, not even a merge
	}
	newFlags := v.Flags
	if newProt&vma.ProtWrite != 0 {
		// Private memory that becomes writable is charged (VM_ACCOUNT),
		// unless it is already, or is shared or VM_NORESERVE.
		if v.Flags&(flagAccount|vma.FlagShared|vma.FlagNoReserve) == 0 && v.Prot&vma.ProtWrite == 0 {
			newFlags |= flagAccount
		}
	} else if v.Flags&flagAccount != 0 && v.Flags&(vma.FlagAnonymous|vma.FlagShared) == vma.FlagAnonymous && v.AnonVMA() == 0 {
		// Anonymous memory never faulted is uncharged again.
		newFlags &^= flagAccount
	}
	return c.modifyLocked(v, s, e, func(n *vma.VMA) { n.Prot, n.Flags = newProt, newFlags }, func() {
		downgrade := v.Prot&^newProt != 0
		shared := v.Flags&vma.FlagShared != 0
		c.protectLocked(s, e, func(p pgtable.PTE) pgtable.PTE { return ptePerms(p, prot, shared) }, downgrade)
	})
}

// modifyLocked replaces [s, e) of v by a copy changed by edit, splitting
// off the parts of v outside the range and merging the result with its
// neighbours (mm/vma.c: vma_modify), and returns the VMA covering the
// range afterwards. ptes, if not nil, changes the PTEs of the range once
// v is detached. At the map-count limit a needed split
// fails with ENOMEM; like Linux, a split already made stays.
func (c *change) modifyLocked(v *vma.VMA, s, e uint64, edit func(*vma.VMA), ptes func()) (*vma.VMA, error) {
	n := v.Slice(s, e)
	edit(n)
	limit := c.as.cfg.MaxMapCount
	mergesLeft := s == v.Start && c.mergesBefore(n)
	mergesRight := e == v.End && c.mergesAfter(n)
	if s > v.Start && !mergesRight && c.tx.Len() >= limit {
		n.Discard()
		return nil, ENOMEM
	}
	if e < v.End && !mergesLeft && c.tx.Len()+btoi(s > v.Start) >= limit {
		if s > v.Start {
			// The first split_vma succeeded before the second failed.
			c.markLocked(v)
			c.tx.Unmap(v.Start, v.End)
			c.detachLocked()
			c.insertLocked(v.Slice(v.Start, s))
			c.insertLocked(v.Slice(s, v.End))
		}
		n.Discard()
		return nil, ENOMEM
	}
	c.markLocked(v)
	c.tx.Unmap(s, e)
	c.detachLocked()
	if ptes != nil {
		ptes()
	}
	return c.insertMergedLocked(n), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mergesBefore reports whether n would merge with the VMA ending at
// n.Start.
func (c *change) mergesBefore(n *vma.VMA) bool {
	if n.Start == 0 {
		return false
	}
	p := c.tx.Find(n.Start - 1)
	return p != nil && mergeable(p, n, n)
}

// mergesAfter reports whether n would merge with the VMA starting at
// n.End.
func (c *change) mergesAfter(n *vma.VMA) bool {
	x := c.tx.Find(n.End)
	return x != nil && x.Start == n.End && mergeable(n, x, n)
}

// ptePerms returns PTE e with the permissions of prot (mm/mprotect.c:
// change_pte_range). A page becomes writable in place only if it is this
// mapping's own anonymous page, or a dirty page of a shared mapping
// (can_change_pte_writable); others take a write fault first.
func ptePerms(e pgtable.PTE, prot Prot, shared bool) pgtable.PTE {
	f := e &^ (pgtable.PTERead | pgtable.PTEWrite | pgtable.PTEExec)
	if prot&protMask != 0 {
		f |= pgtable.PTERead
	}
	if prot&ProtExec != 0 {
		f |= pgtable.PTEExec
	}
	if prot&ProtWrite != 0 && e&pgtable.PTEZero == 0 {
		if (!shared && e&pgtable.PTEAnon != 0) || (shared && e&pgtable.PTEDirty != 0) {
			f |= pgtable.PTEWrite
		}
	}
	return f
}
