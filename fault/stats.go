package fault

import "sync/atomic"

// Counters counts what the fault handler did. Each simulated thread owns
// one (so the hot path never shares a cache line between CPUs) and the
// address space sums them; every field is atomic so the sum may be read
// at any time. Names follow Linux's /proc/vmstat where one exists.
type Counters struct {
	Pgfault        atomic.Int64 // pgfault: every fault entered
	Pgmajfault     atomic.Int64 // pgmajfault: faults that did I/O
	FastPath       atomic.Int64 // completed by MapPages or anonymous memory under RCU, no reference
	SlowPath       atomic.Int64 // completed by Fault with a reference (or VMA lock, or mmap lock)
	Retries        atomic.Int64 // lockless attempts repeated (detached VMA, lost race, Retry)
	Fallbacks      atomic.Int64 // faults that took the mmap read lock after the lockless path gave up
	LockedFaults   atomic.Int64 // faults handled under the mmap read lock (PolicyMmapLock and fallbacks)
	VMALockSuccess atomic.Int64 // vma_lock_success
	VMALockAbort   atomic.Int64 // vma_lock_abort: no VMA, or its read lock refused
	VMALockRetry   atomic.Int64 // vma_lock_retry: the fault under the VMA lock returned Retry
	VMALockMiss    atomic.Int64 // vma_lock_miss: the VMA was detached under us
	Installs       atomic.Int64 // PTEs installed
	InstallRaced   atomic.Int64 // installs refused: VMA detached, PTE already present, or page beyond EOF
	CopyOnWrite    atomic.Int64 // private write faults that copied a page (or the zero page)
	Pgreuse        atomic.Int64 // pgreuse: write faults that made a private page writable in place (wp_page_reuse)
	ReleasedForIO  atomic.Int64 // faults that dropped their lock for I/O and retried (maybe_unlock_mmap_for_io)
	SegvMaperr     atomic.Int64 // faults that ended in SIGSEGV / SEGV_MAPERR
	SegvAccerr     atomic.Int64 // faults that ended in SIGSEGV / SEGV_ACCERR
	Sigbus         atomic.Int64 // faults that ended in SIGBUS
	OOM            atomic.Int64 // faults that found no free frame
}

// Snapshot is a plain copy of Counters, with vmstat-style names.
type Snapshot struct {
	Pgfault, Pgmajfault, FastPath, SlowPath, Retries, Fallbacks, LockedFaults int64
	VMALockSuccess, VMALockAbort, VMALockRetry, VMALockMiss                   int64
	Installs, InstallRaced, CopyOnWrite, Pgreuse, ReleasedForIO               int64
	SegvMaperr, SegvAccerr, Sigbus, OOM                                       int64
}

// AddTo adds c's current values to s. It is safe to call while c is being
// updated; the sum is then a consistent-enough approximation, as vmstat is.
func (c *Counters) AddTo(s *Snapshot) {
	s.Pgfault += c.Pgfault.Load()
	s.Pgmajfault += c.Pgmajfault.Load()
	s.FastPath += c.FastPath.Load()
	s.SlowPath += c.SlowPath.Load()
	s.Retries += c.Retries.Load()
	s.Fallbacks += c.Fallbacks.Load()
	s.LockedFaults += c.LockedFaults.Load()
	s.VMALockSuccess += c.VMALockSuccess.Load()
	s.VMALockAbort += c.VMALockAbort.Load()
	s.VMALockRetry += c.VMALockRetry.Load()
	s.VMALockMiss += c.VMALockMiss.Load()
	s.Installs += c.Installs.Load()
	s.InstallRaced += c.InstallRaced.Load()
	s.CopyOnWrite += c.CopyOnWrite.Load()
	s.Pgreuse += c.Pgreuse.Load()
	s.ReleasedForIO += c.ReleasedForIO.Load()
	s.SegvMaperr += c.SegvMaperr.Load()
	s.SegvAccerr += c.SegvAccerr.Load()
	s.Sigbus += c.Sigbus.Load()
	s.OOM += c.OOM.Load()
}
