package mmap

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// Fork is fork(2) for the address space: it returns a child address
// space on the same Memory with the parent's Config, a copy of its
// layout (the same VMAs, flags and offsets), page tables of its own and
// no threads (kernel/fork.c: dup_mmap()):
//
//   - MadvDontfork (VM_DONTCOPY) ranges are left out of the child;
//     MadvWipeonfork (VM_WIPEONFORK) ranges are mapped but empty, and
//     read as zeros;
//   - VM_LOCKED is not inherited (the child's locked memory is 0);
//   - shared mappings share their frames, through the page cache;
//   - private pages (anonymous memory, and private copies of file pages)
//     are write-protected in both and shared copy-on-write: the first
//     write in either copies the page, unless the page is that address
//     space's alone again, when it is reused in place
//     (mm/memory.c: do_wp_page). Stats counts the copies (CopyOnWrite)
//     and the reuses (Pgreuse);
//   - each anon_vma is forked (anon_vma_fork), so Check can verify the
//     reverse map of every shared page in both.
//
// Other threads of the parent may run meanwhile. Fork holds the mmap
// write lock, which excludes syscalls and PolicyMmapLock faults; under
// PolicyPerVMALock and PolicyRCURefcount it write-marks each parent VMA
// before copying it (vma_start_write, as Linux 6.4.1+), so that lockless
// faults on it wait for the fork under the mmap lock
// (QuirkForkNoVMALock leaves that out). Fork of a closed address space
// returns ErrClosed. The child and the parent may be closed in any order.
func (as *AddressSpace) Fork() (*AddressSpace, error) { return as.forkTraced(as.sysTrack) }

// Fork is AddressSpace.Fork called by this thread: fork(2) from a thread
// of a multithreaded process, traced on the thread's own track. On a
// closed thread it returns ErrThreadClosed.
func (t *Thread) Fork() (*AddressSpace, error) {
	if t.closed {
		return nil, ErrThreadClosed
	}
	return t.as.forkTraced(t.ctx.Trace)
}

func (as *AddressSpace) forkTraced(tb *trace.Buffer) (*AddressSpace, error) {
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "fork"})
	}
	child, err := as.doFork(tb)
	traceEnd(tb, "fork", 0, err)
	return child, err
}

// testHookForkVMA, when a test sets it, runs in the copy of each parent
// VMA after the child's VMA took its anon_vma state and before the page
// tables are copied: the window of the Linux 6.4 fork race.
var testHookForkVMA func(parent *vma.VMA)

func (as *AddressSpace) doFork(tb *trace.Buffer) (*AddressSpace, error) {
	as.mm.WriteLock()
	// writeUnlock raises, once the lock is released, the panic of a
	// backing's Open that a copy of a VMA absorbed.
	defer as.writeUnlock()
	if as.closed.Load() {
		return nil, ErrClosed
	}
	child, err := New(as.cfg)
	if err != nil {
		return nil, err // cannot happen: the parent's Config was valid
	}
	// The child joined the Memory: anyone who locks it (Check) locks
	// the parent first, which we hold.
	child.mm.WriteLock()
	built := false
	defer func() {
		if !built {
			// Unwinding, or a backing panicked: the child goes.
			child.writeUnlock()
			child.Close()
		}
	}()
	c := child.beginLocked("fork", nil)
	f := forker{parent: as, child: child, c: c, seq: as.mm.LockSeq()}
	vmas := as.mm.Tree.Snapshot().VMAs()
	markEach := false
	if as.cfg.Policy != PolicyMmapLock && !as.cfg.Quirks.Has(QuirkForkNoVMALock) {
		if as.cfg.Policy == PolicyPerVMALock {
			markEach = true
		} else {
			f.markAllRCULocked(vmas)
		}
	}
	for _, v := range vmas {
		if markEach {
			// vma_start_write(mpnt), at the top of dup_mmap()'s loop
			// since Linux 6.4.1: readers of the VMA lock wait, or fall
			// back to the mmap lock we hold.
			v.WriteLock(f.seq)
		}
		f.copyVMALocked(v)
	}
	c.finishLocked()
	// flush_tlb_mm(oldmm): the parent's threads may still hold writable
	// translations of the pages just write-protected.
	if f.wpStart < f.wpEnd {
		as.shootdownTraced(f.wpStart, f.wpEnd, tb)
	}
	if as.change.panicked != nil {
		return nil, nil // the deferred calls close the child and raise the panic
	}
	built = true
	child.writeUnlock()
	as.stats.forks.Add(1)
	return child, nil
}

// forker is one fork in progress.
type forker struct {
	parent, child *AddressSpace
	c             *change // the child's
	seq           uint64  // the parent's mm_lock_seq

	// wpStart and wpEnd bound the parent's write-protected PTEs.
	wpStart, wpEnd uint64
}

// markAllRCULocked write-marks every VMA of the parent under PolicyRCURefcount
// and then waits for a grace period. The RCU fast path takes no count a
// mark could wait for; it checks the mark inside its read-side section
// instead, so once the grace period has passed every lockless fault
// either saw a mark (and waits for us under the mmap lock) or has
// finished. Slow-path references are waited for by WriteLock itself.
// Marking them all first costs one grace period per fork rather than one
// per VMA.
//
// Preconditions: both mmap write locks are held.
func (f *forker) markAllRCULocked(vmas []*vma.VMA) {
	for _, v := range vmas {
		v.WriteLock(f.seq)
	}
	f.parent.mm.RCU.Synchronize()
}

// copyVMALocked makes the child's copy of the parent VMA v, as one turn of
// dup_mmap()'s loop: vm_area_dup, anon_vma_fork (or none for
// VM_WIPEONFORK), the child's tree, then copy_page_range if v has an
// anon_vma.
//
// Preconditions: both mmap write locks are held.
func (f *forker) copyVMALocked(v *vma.VMA) {
	if v.Flags&flagDontCopy != 0 {
		return
	}
	n := v.Copy()
	f.child.adoptLocked(n)
	n.Flags &^= flagLocked // vm_flags_clear(tmp, VM_LOCKED_MASK)
	wipe := v.Flags&flagWipeOnFork != 0
	if wipe {
		n.CloneAnon(nil) // "tmp->anon_vma = NULL"
	} else {
		n.ForkAnon(v, f.child.frames)
	}
	// The window of the Linux 6.4 race: anon_vma_fork() has read the
	// parent's anon_vma and copy_page_range() has not yet (Linux may
	// sleep here, allocating or taking the file's i_mmap lock).
	f.parent.cfg.Sched.Point("fork.dup_vma")
	if h := testHookForkVMA; h != nil {
		h(v)
	}
	f.c.insertLocked(n)
	if file, ok := n.Backing.(*File); ok && n.Flags&vma.FlagAnonymous == 0 {
		f.child.watchFileLocked(file)
	}
	// mm/memory.c: vma_needs_copy(): only a VMA with an anon_vma has
	// pages a fault could not bring back; shared and untouched mappings
	// refault in the child. v's anon_vma is read again here: without
	// the VMA's write mark, a fault may have given it one since
	// ForkAnon.
	f.parent.cfg.Sched.Point("fork.copy_page_range")
	if wipe || v.AnonVMA() == 0 {
		return
	}
	f.copyPTEsLocked(v)
}

// copyPTEsLocked copies the PTEs of v into the child (copy_present_pte()): each
// child PTE takes a reference on its frame; an anonymous page of a
// private mapping is write-protected in both and is no longer exclusive
// (PTEAnon cleared), so that the first write in either copies it, or
// reuses it once the other has let go.
//
// Preconditions: both mmap write locks are held.
func (f *forker) copyPTEsLocked(v *vma.VMA) {
	frames := f.parent.frames
	cow := v.Flags&(vma.FlagShared|vma.FlagMayWrite) == vma.FlagMayWrite // is_cow_mapping()
	protected := false
	f.parent.mm.Table.CopyTo(f.child.mm.Table, v.Start, v.End, func(_ uint64, e pgtable.PTE) (pgtable.PTE, pgtable.PTE) {
		p := e.PFN()
		if !e.Present() || p == pgtable.ZeroPFN {
			return e, e
		}
		frames.Get(p)
		if cow && (e&pgtable.PTEAnon != 0 || frames.Anon(p) != 0) {
			if e&pgtable.PTEWrite != 0 {
				protected = true
			}
			e &^= pgtable.PTEWrite | pgtable.PTEAnon
		}
		return e, e
	})
	if protected {
		if f.wpStart == f.wpEnd {
			f.wpStart = v.Start
		}
		f.wpEnd = v.End
	}
}
