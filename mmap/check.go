package mmap

import (
	"errors"
	"fmt"
	"maps"
	"slices"

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
//   - the reverse map: every anonymous page a PTE maps belongs to an
//     anon_vma on the anon_vma chain of the VMA that maps it, in parent
//     and child alike after a fork;
//   - across every address space on the same Memory, when no fault is in
//     flight in any of them: each frame's reference count is exactly the
//     number of PTEs mapping it plus one if a page cache or a backing
//     holds it (fault.FrameCache), and the frames in use are exactly
//     those mapped by a PTE or held so;
//   - no backing's Close has panicked since the last Check (see Backing).
//
// Check takes the mmap write lock of every address space on the Memory,
// in the order they joined it, so it sees each layout between syscalls;
// faults may run meanwhile (the exact frame census is skipped then). It
// first waits for the frees deferred to a grace period (VMA closes) to
// run, so it must not be called from inside a fault or an RCU callback.
func (as *AddressSpace) Check() error {
	spaces := as.mem.lockAll()
	defer unlockAll(spaces)
	if as.closed.Load() {
		return ErrClosed
	}
	var errs []error
	bad := func(format string, args ...any) bool {
		errs = append(errs, fmt.Errorf(format, args...))
		return len(errs) < 32
	}
	as.checkLayoutLocked(bad)
	as.mem.checkFramesLocked(spaces, bad)
	// A backing's Close that panicked in the frees the census waited
	// for broke its contract.
	if err := as.closePanics.take(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkLayoutLocked checks the VMAs and PTEs of as, reporting each
// violation to bad (which returns false once enough are reported).
//
// Preconditions: the mmap write lock of as is held.
func (as *AddressSpace) checkLayoutLocked(bad func(string, ...any) bool) {
	if err := as.mm.Tree.CheckLocked(); err != nil {
		bad("%w", err)
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
	as.mm.Table.Range(0, TaskSize, func(addr uint64, e pgtable.PTE) bool {
		v := snap.Find(addr)
		if v == nil {
			return bad("PTE at %#x (%v) outside any VMA", addr, e)
		}
		if e&pgtable.PTEWrite != 0 && v.Prot&vma.ProtWrite == 0 {
			return bad("writable PTE at %#x in %v", addr, v)
		}
		if e&pgtable.PTERead != 0 && v.Prot == vma.ProtNone {
			return bad("accessible PTE at %#x in %v", addr, v)
		}
		if a := as.frames.Anon(e.PFN()); a != 0 && !v.AnonChainHas(a) {
			return bad("anonymous page (frame %d) at %#x belongs to anon_vma %d, which is not on the anon_vma chain of %v: a broken reverse map", e.PFN(), addr, a, v)
		}
		return true
	})
}

// checkFramesLocked is the frame census of the memory: it counts the
// PTEs mapping each frame in every address space and the frames the page
// caches hold, and compares them with the frames' reference counts and
// the frames in use.
//
// Preconditions: the mmap write locks of spaces, every address space on
// m, are held.
func (m *Memory) checkFramesLocked(spaces []*AddressSpace, bad func(string, ...any) bool) {
	// Frees that wait for a grace period must have run before frames are
	// counted: the free of the last VMA of shared anonymous memory
	// releases its pages. (Callbacks never take the mmap lock.) A space
	// still closing has frees of its own to run: no exact census then.
	quiet := true
	begun := make([]int64, len(spaces))
	for i, s := range spaces {
		if s.closed.Load() {
			quiet = false
			continue
		}
		s.mm.RCU.Barrier()
		// The census is exact only if no fault ran while it counted:
		// none in flight at the start or the end, and none begun in
		// between.
		begun[i] = s.faultsBegun.Load()
		quiet = quiet && s.inflight.Load() == 0
	}
	mapped := make(map[pgtable.PFN]int)
	// Shared anonymous memory is in no list of files, nor is a user's
	// backing: they are found through the VMAs.
	var caches []fault.FrameCache
	for _, f := range m.watchedFiles() {
		caches = append(caches, f)
	}
	for _, s := range spaces {
		s.mm.Table.Range(0, TaskSize, func(_ uint64, e pgtable.PTE) bool {
			if p := e.PFN(); p != pgtable.ZeroPFN {
				mapped[p]++
			}
			return true
		})
		for _, v := range s.mm.Tree.Snapshot().VMAs() {
			if c, ok := v.Backing.(fault.FrameCache); ok && !slices.Contains(caches, c) {
				caches = append(caches, c)
			}
		}
	}
	if !quiet {
		// A fault that runs while the tables are walked may replace a
		// PTE and drop its frame's reference: the counts would be of
		// different moments.
		return
	}
	cached := make(map[pgtable.PFN]bool)
	for _, c := range caches {
		for _, p := range c.CachedFrames(m.frames) {
			cached[p] = true
		}
	}
	refs := make(map[pgtable.PFN]int, len(mapped))
	for p := range mapped {
		refs[p] = int(m.frames.Refcount(p))
	}
	inUse := m.frames.InUse()
	// Only after the last count can we tell that no fault ran while we
	// counted (a fault bumps faultsBegun before it changes anything).
	for i, s := range spaces {
		if s.inflight.Load() != 0 || s.faultsBegun.Load() != begun[i] {
			return
		}
	}
	held := len(cached)
	// In frame order, so that the report, cut at its first errors, is
	// the same on every run.
	for _, p := range slices.Sorted(maps.Keys(mapped)) {
		n := mapped[p]
		want := n
		if cached[p] {
			want++
		} else {
			held++
		}
		if rc := refs[p]; rc != want {
			bad("frame %d mapped by %d PTEs (cached: %v) has refcount %d", p, n, cached[p], rc)
		}
	}
	if inUse != held {
		bad("%d frames in use but %d mapped or cached: a frame leaked or was freed while in use", inUse, held)
	}
}

// lockAll write-locks the mmap lock of every address space on m, in the
// order they joined it, and returns them. An address space that joins
// or leaves meanwhile makes it start again.
func (m *Memory) lockAll() []*AddressSpace {
	for {
		spaces := m.addressSpaces()
		for _, s := range spaces {
			s.mm.WriteLock()
		}
		if slices.Equal(spaces, m.addressSpaces()) {
			return spaces
		}
		unlockAll(spaces)
	}
}

func unlockAll(spaces []*AddressSpace) {
	for _, s := range spaces {
		s.mm.WriteUnlock()
	}
}
