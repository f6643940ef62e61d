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

func (as *AddressSpace) doMprotect(start, length uint64, prot Prot, tb *trace.Buffer) error {
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
	// arch_validate_prot: PROT_SEM (0x8) is accepted and means nothing.
	if prot&^(protMask|0x8) != 0 {
		return EINVAL
	}
	prot &= protMask

	as.mm.WriteLock()
	defer as.mm.WriteUnlock()
	if as.closed.Load() {
		return ErrClosed
	}
	c := as.beginLocked("mprotect", tb)
	v := c.tx.FindNext(start)
	if v == nil || v.Start >= end || v.Start > start {
		c.abortLocked()
		return ENOMEM
	}
	var err error
	next := start
	for v != nil && v.Start < end {
		if v.Start > next {
			err = ENOMEM // a hole
			break
		}
		s, e := max(start, v.Start), min(end, v.End)
		if err = c.mprotectVMALocked(v, s, e, prot); err != nil {
			break
		}
		next = e
		if next >= end {
			// The last VMA may extend past end: FindNext(end) would
			// return it again (do_mprotect_pkey: nstart >= end).
			break
		}
		v = c.tx.FindNext(e)
	}
	if err == nil && next < end {
		err = ENOMEM
	}
	c.finishLocked()
	as.stats.mprotects.Add(1)
	return err
}

// mprotectVMALocked gives [s, e) of v the protection prot (mm/mprotect.c:
// mprotect_fixup): split off the parts outside the range, detach v,
// change its PTEs, and insert the changed part merged with its
// neighbours.
func (c *change) mprotectVMALocked(v *vma.VMA, s, e uint64, prot Prot) error {
	newProt := vma.Prot(prot)
	if newProt&vma.ProtWrite != 0 && v.Flags&vma.FlagMayWrite == 0 {
		return EACCES
	}
	newFlags := v.Flags
	// VM_ACCOUNT: private memory that becomes writable is committed,
	// and stays so if it becomes read-only again.
	if newProt&vma.ProtWrite != 0 && v.Flags&(flagAccount|vma.FlagShared|vma.FlagNoReserve) == 0 && v.Prot&vma.ProtWrite == 0 {
		newFlags |= flagAccount
	}
	if newProt == v.Prot && newFlags == v.Flags {
		return nil
	}
	return c.modifyLocked(v, s, e, func(n *vma.VMA) { n.Prot, n.Flags = newProt, newFlags }, func() {
		downgrade := v.Prot&^newProt != 0
		shared := v.Flags&vma.FlagShared != 0
		c.protectLocked(s, e, func(p pgtable.PTE) pgtable.PTE { return ptePerms(p, prot, shared) }, downgrade)
	})
}

// modifyLocked replaces [s, e) of v by a copy changed by edit, splitting
// off the parts of v outside the range and merging the result with its
// neighbours (mm/vma.c: vma_modify). ptes, if not nil, changes the PTEs of
// the range once v is detached. At the map-count limit a needed split
// fails with ENOMEM; like Linux, a split already made stays.
func (c *change) modifyLocked(v *vma.VMA, s, e uint64, edit func(*vma.VMA), ptes func()) error {
	n := v.Slice(s, e)
	edit(n)
	limit := c.as.cfg.MaxMapCount
	mergesLeft := s == v.Start && c.mergesBefore(n)
	mergesRight := e == v.End && c.mergesAfter(n)
	if s > v.Start && !mergesRight && c.tx.Len() >= limit {
		n.Discard()
		return ENOMEM
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
		return ENOMEM
	}
	c.markLocked(v)
	c.tx.Unmap(s, e)
	c.detachLocked()
	if ptes != nil {
		ptes()
	}
	c.insertMergedLocked(n)
	return nil
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
	return p != nil && mergeable(p, n)
}

// mergesAfter reports whether n would merge with the VMA starting at
// n.End.
func (c *change) mergesAfter(n *vma.VMA) bool {
	x := c.tx.Find(n.End)
	return x != nil && x.Start == n.End && mergeable(n, x)
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
