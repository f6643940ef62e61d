package mmap

import (
	"errors"
	"fmt"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// Check verifies the address space's invariants and returns an error
// describing every violation it finds:
//
//   - VMAs are sorted, non-overlapping, page-aligned, inside the user
//     address space, attached and alive, and no more than MaxMapCount+1
//     (the one VMA an mmap at the limit adds);
//   - every present PTE lies inside a VMA, and allows no access the VMA
//     forbids (no writable PTE in a read-only VMA, no readable PTE in a
//     PROT_NONE one);
//   - every frame a PTE maps is allocated, with a reference count at least
//     the number of PTEs mapping it; and, when no fault is in flight, the
//     frames in use are exactly those mapped by a PTE, held by the page
//     cache of a file mapped here, or declared by a backing mapped here
//     (fault.FrameCache);
//   - no backing's Close has panicked since the last Check (see Backing).
//
// Check takes the mmap write lock, so it sees the layout between
// syscalls; faults may run meanwhile (the frame census is skipped then).
// It first waits for the frees deferred to a grace period (VMA closes)
// to run, so it must not be called from inside a fault or an RCU callback.
func (as *AddressSpace) Check() error {
	as.mm.WriteLock()
	defer as.mm.WriteUnlock()
	if as.closed.Load() {
		return ErrClosed
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := as.mm.Tree.CheckLocked(); err != nil {
		errs = append(errs, err)
	}
	snap := as.mm.Tree.Snapshot()
	// Linux lets the count reach max_map_count+1: mmap fails only when
	// the count already exceeds the limit (mm/mmap.c: do_mmap(): "if
	// (mm->map_count > sysctl_max_map_count)"), so one more VMA fits.
	if n := snap.Len(); n > as.cfg.MaxMapCount+1 {
		bad("map count %d exceeds MaxMapCount+1 (%d)", n, as.cfg.MaxMapCount+1)
	}
	for _, v := range snap.VMAs() {
		switch {
		case v.Poisoned():
			bad("VMA %v in the tree is freed", v)
		case !v.Attached():
			bad("VMA %v in the tree is detached", v)
		case v.Start >= v.End || v.Start&pgtable.PageMask != 0 || v.End&pgtable.PageMask != 0 || v.End > TaskSize:
			bad("VMA %v is not a page-aligned user range", v)
		}
	}

	// Frees that wait for a grace period must have run before frames are
	// counted: the free of the last VMA of shared anonymous memory
	// releases its pages. (Callbacks never take the mmap lock.)
	as.mm.RCU.Barrier()
	// A backing's Close that panicked in those frees broke its contract.
	if err := as.closePanics.take(); err != nil {
		errs = append(errs, err)
	}
	// The census is exact only if no fault ran while it counted: none in
	// flight at the start or the end, and none begun in between.
	begun := as.faultsBegun.Load()
	quiet := as.inflight.Load() == 0
	mapped := make(map[pgtable.PFN]int)
	as.mm.Table.Range(0, TaskSize, func(addr uint64, e pgtable.PTE) bool {
		v := snap.Find(addr)
		if v == nil {
			bad("PTE at %#x (%v) outside any VMA", addr, e)
			return len(errs) < 32
		}
		if e&pgtable.PTEWrite != 0 && v.Prot&vma.ProtWrite == 0 {
			bad("writable PTE at %#x in %v", addr, v)
		}
		if e&pgtable.PTERead != 0 && v.Prot == vma.ProtNone {
			bad("accessible PTE at %#x in %v", addr, v)
		}
		if p := e.PFN(); p != pgtable.ZeroPFN {
			mapped[p]++
		}
		return len(errs) < 32
	})
	for p, n := range mapped {
		if rc := int(as.frames.Refcount(p)); rc < n {
			bad("frame %d mapped by %d PTEs has refcount %d", p, n, rc)
		}
	}
	if quiet {
		held := make(map[pgtable.PFN]bool, len(mapped))
		for p := range mapped {
			held[p] = true
		}
		cache := func(c fault.FrameCache) {
			for _, p := range c.CachedFrames(as.frames) {
				held[p] = true
			}
		}
		for f := range as.files {
			cache(f)
		}
		for _, v := range snap.VMAs() {
			// Shared anonymous memory is in no list of files, nor
			// is a user's backing.
			if c, ok := v.Backing.(fault.FrameCache); ok {
				cache(c)
			}
		}
		n := as.frames.InUse()
		// Only after the last count can we tell that no fault ran while
		// we counted (a fault bumps faultsBegun before it changes
		// anything).
		if as.inflight.Load() == 0 && as.faultsBegun.Load() == begun && n != len(held) {
			bad("%d frames in use but %d mapped or cached: a frame leaked or was freed while in use", n, len(held))
		}
	}
	return errors.Join(errs...)
}
