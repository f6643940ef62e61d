package mmap

import (
	"errors"

	"github.com/vmsim/vmsim/vma"
)

// populateAdvised is MADV_POPULATE_READ / MADV_POPULATE_WRITE over the
// page-aligned, non-empty [start, end) (mm/madvise.c: madvise_populate()
// → mm/gup.c: faultin_page_range() → __get_user_pages() with
// FOLL_MADV_POPULATE). Unlike the other advices it does not skip holes:
// it walks from start and stops at the first failure, leaving the pages
// before it populated:
//
//   - no VMA contains the next address: ENOMEM (vma_lookup(); a stack is
//     not grown);
//   - the VMA does not allow the access (check_vma_flags(): PROT_READ for
//     reading — a PROT_WRITE-only or PROT_EXEC-only mapping, readable on
//     x86, still fails — and PROT_WRITE for writing): EINVAL;
//   - a fault fails (VM_FAULT_SIGBUS beyond the end of a file): EFAULT.
//
// Each page is faulted as a thread's access would fault it: a write
// fault makes a private page (breaking copy-on-write of a private file
// mapping, and giving the VMA an anon_vma), a read fault does not.
//
// Linux holds the mmap read lock around the lookup and drops it to
// fault; here the lookup takes the read lock and the fault takes what its
// policy takes, so a concurrent change may make a fault fail with the
// errno of the VMA it no longer finds.
func (as *AddressSpace) populateAdvised(start, end uint64, write bool) error {
	if as.closed.Load() {
		return ErrClosed
	}
	t := as.NewThreadNamed("madvise-populate")
	defer t.Close()
	for cur := start; cur < end; {
		vEnd, err := as.populateCheck(cur, write)
		if err != nil {
			return err
		}
		for ; cur < min(vEnd, end); cur += PageSize {
			if err := t.Fault(cur, write); err != nil {
				return populateErrno(err)
			}
		}
	}
	as.stats.madvises.Add(1)
	return nil
}

// populateCheck returns the end of the VMA containing addr, or the errno
// with which populating addr fails before any fault (mm/gup.c:
// check_vma_flags(), every failure of which madvise_populate() reports as
// EINVAL).
func (as *AddressSpace) populateCheck(addr uint64, write bool) (uint64, error) {
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	if as.closed.Load() {
		return 0, ErrClosed
	}
	v := as.mm.Tree.Snapshot().Find(addr)
	if v == nil || v.Start > addr || v.End <= addr {
		return 0, ENOMEM
	}
	need := vma.ProtRead
	if write {
		need = vma.ProtWrite
	}
	if v.Prot&need == 0 {
		return 0, EINVAL
	}
	return v.End, nil
}

// populateErrno maps a failed fault to madvise_populate()'s errno:
// SIGBUS and SIGSEGV are EFAULT (VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV), an
// address no VMA holds any more is ENOMEM.
func populateErrno(err error) error {
	var se *SignalError
	if errors.As(err, &se) {
		if se.Signo == SIGSEGV && se.Code == SegvMaperr {
			return ENOMEM
		}
		return EFAULT
	}
	return err
}
