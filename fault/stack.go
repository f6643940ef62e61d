package fault

import (
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Stack growth: a fault in the gap just below a VM_GROWSDOWN VMA grows
// that VMA down to the faulting page instead of raising SIGSEGV (Linux
// 6.5+: mm/memory.c: lock_mm_and_find_vma() → mm/mmap.c:
// expand_stack_locked() → expand_downwards()). It is a slow path: it
// runs only when a lookup under the mmap read lock found no VMA, which
// is where every policy's lockless lookup falls back to when it finds
// none, so the fast path never pays for it.
//
// The handler decides when to grow; the owner of the address space (package
// mmap) decides whether the growth is allowed and makes it, under the mmap
// write lock, since only the owner edits the VMA tree.

// growsInto reports whether a fault at addr, which no VMA of snap
// contains, may grow the next VMA above it: that VMA is VM_GROWSDOWN
// (lock_mm_and_find_vma()'s test before it upgrades the lock). Whether
// the growth is allowed is decided under the write lock.
//
// Preconditions: the mmap lock is held, or an RCU read-side section is
// open, so snap's VMAs cannot be freed.
func (mm *MM) growsInto(snap *vma.Snapshot, addr uint64) bool {
	n := snap.FindNext(addr)
	return n != nil && n.Flags&vma.FlagGrowsDown != 0
}

// expandStack asks the owner to grow the stack above addr. Linux tries to
// upgrade the read lock (mmap_upgrade_trylock(), which always fails) and
// otherwise drops it and takes the write lock, looking the VMA up again;
// the Owner's ExpandStack does the same, starting from no lock (with no
// RCU read-side section open either), and reports whether a VMA now
// covers addr (grown by this call or by a racing one).
func (mm *MM) expandStack(ctx *Context, addr uint64) bool {
	traceStep(ctx, trace.Note, addr, "expand_stack")
	return mm.owner.ExpandStack(ctx, addr)
}

// PrepareAnon gives v an anon_vma identity if it has none, reusing a
// compatible neighbour's as a fault would (mm/rmap.c:
// __anon_vma_prepare() → find_mergeable_anon_vma()). expand_downwards()
// calls it before its size checks, so even a growth refused by
// RLIMIT_STACK leaves the stack with an anon_vma, which decides later
// merges.
//
// PrepareAnon is safe for concurrent use; ctx is owned by the caller,
// who may hold the mmap lock.
func (mm *MM) PrepareAnon(ctx *Context, v *vma.VMA) {
	mm.prepareAnonVMA(ctx, v)
}
