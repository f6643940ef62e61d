package mmap

import (
	"sync"
	"sync/atomic"

	"github.com/vmsim/vmsim/fault"
)

// asCounters are the address space's own counters. All atomic.
type asCounters struct {
	mmaps, munmaps, mprotects, mremaps, madvises atomic.Int64
	shootdowns                                   atomic.Int64
	remoteFlush, remoteFlushReceived             atomic.Int64
	vmasFreed                                    atomic.Int64
	stackGrowths                                 atomic.Int64
	forks                                        atomic.Int64

	// mu protects retired, tlbHits and tlbMisses together with the
	// membership of the live thread set: a thread leaves the set and
	// its counts join the retired total in one critical section, and
	// Stats sums both in one, so that it counts every thread exactly
	// once and every counter is monotonic between two calls.
	mu                 sync.Mutex
	retired            fault.Counters // counters of closed threads
	tlbHits, tlbMisses atomic.Int64   // of closed threads
}

// retire removes a closing thread from the live set and folds its
// counters into the address space's, unless it is already retired (by
// the address space's Close). It reports whether it retired t.
func (as *AddressSpace) retire(t *Thread) bool {
	as.stats.mu.Lock()
	defer as.stats.mu.Unlock()
	if !as.threads.remove(t) {
		return false
	}
	var s fault.Snapshot
	t.ctx.Counters.AddTo(&s)
	addSnapshot(&as.stats.retired, &s)
	as.stats.tlbHits.Add(t.tlbHits.Load())
	as.stats.tlbMisses.Add(t.tlbMisses.Load())
	return true
}

func addSnapshot(c *fault.Counters, s *fault.Snapshot) {
	c.Pgfault.Add(s.Pgfault)
	c.Pgmajfault.Add(s.Pgmajfault)
	c.FastPath.Add(s.FastPath)
	c.SlowPath.Add(s.SlowPath)
	c.Retries.Add(s.Retries)
	c.Fallbacks.Add(s.Fallbacks)
	c.LockedFaults.Add(s.LockedFaults)
	c.VMALockSuccess.Add(s.VMALockSuccess)
	c.VMALockAbort.Add(s.VMALockAbort)
	c.VMALockRetry.Add(s.VMALockRetry)
	c.VMALockMiss.Add(s.VMALockMiss)
	c.Installs.Add(s.Installs)
	c.InstallRaced.Add(s.InstallRaced)
	c.CopyOnWrite.Add(s.CopyOnWrite)
	c.Pgreuse.Add(s.Pgreuse)
	c.ReleasedForIO.Add(s.ReleasedForIO)
	c.SegvMaperr.Add(s.SegvMaperr)
	c.SegvAccerr.Add(s.SegvAccerr)
	c.Sigbus.Add(s.Sigbus)
	c.OOM.Add(s.OOM)
}

// Stats are the address space's counters. Fault counters follow
// /proc/vmstat where Linux has a name for them (see Vmstat).
type Stats struct {
	fault.Snapshot // pgfault, pgmajfault, per-path and per-outcome fault counts

	TLBHits, TLBMisses int64
	// Shootdowns counts TLB shootdowns; NrTLBRemoteFlush those that had
	// threads to flush (nr_tlb_remote_flush), NrTLBRemoteFlushReceived
	// the threads flushed (nr_tlb_remote_flush_received).
	Shootdowns, NrTLBRemoteFlush, NrTLBRemoteFlushReceived int64

	// Mmaps, Munmaps, Mprotects, Mremaps and Madvises count successful
	// calls. A call that changes part of its range and then fails (an
	// mprotect or madvise that meets a hole: ENOMEM) is not counted;
	// Linux has no such counters.
	Mmaps, Munmaps, Mprotects, Mremaps, Madvises int64

	MapCount    int   // VMAs now (mm->map_count)
	Threads     int   // threads open now
	FramesInUse int   // physical frames allocated now (page tables not counted)
	VMAsFreed   int64 // VMAs released after their grace period
	// StackGrowths counts faults that grew a MAP_GROWSDOWN VMA
	// (expand_downwards()).
	StackGrowths int64
	// Forks counts successful Fork calls on this address space (the
	// "processes" line of /proc/stat counts forks machine-wide). The
	// copy-on-write faults that follow are counted by the address space
	// that takes them, in CopyOnWrite (a page copied) and Pgreuse (a
	// page made writable in place).
	Forks int64
}

// Stats returns the counters. It may be called at any time; while
// threads run, each counter is a recent value (as /proc/vmstat is), and
// every cumulative counter (the int64 fields) is monotonic: a call never
// returns less than a call that returned before it began, however threads
// come and go.
func (as *AddressSpace) Stats() Stats {
	var s Stats
	as.stats.mu.Lock()
	as.stats.retired.AddTo(&s.Snapshot)
	s.TLBHits = as.stats.tlbHits.Load()
	s.TLBMisses = as.stats.tlbMisses.Load()
	threads := as.threads.all()
	for _, t := range threads {
		t.ctx.Counters.AddTo(&s.Snapshot)
		s.TLBHits += t.tlbHits.Load()
		s.TLBMisses += t.tlbMisses.Load()
	}
	as.stats.mu.Unlock()
	s.Shootdowns = as.stats.shootdowns.Load()
	s.NrTLBRemoteFlush = as.stats.remoteFlush.Load()
	s.NrTLBRemoteFlushReceived = as.stats.remoteFlushReceived.Load()
	s.Mmaps = as.stats.mmaps.Load()
	s.Munmaps = as.stats.munmaps.Load()
	s.Mprotects = as.stats.mprotects.Load()
	s.Mremaps = as.stats.mremaps.Load()
	s.Madvises = as.stats.madvises.Load()
	s.MapCount = as.MapCount()
	s.Threads = len(threads)
	s.FramesInUse = as.frames.InUse()
	s.VMAsFreed = as.stats.vmasFreed.Load()
	s.StackGrowths = as.stats.stackGrowths.Load()
	s.Forks = as.stats.forks.Load()
	return s
}

// Vmstat returns the counters under Linux's /proc/vmstat names where one
// exists, and vmsim's own (prefixed "vmsim_") otherwise.
func (s Stats) Vmstat() map[string]int64 {
	return map[string]int64{
		"pgfault":                      s.Pgfault,
		"pgmajfault":                   s.Pgmajfault,
		"pgreuse":                      s.Pgreuse,
		"vma_lock_success":             s.VMALockSuccess,
		"vma_lock_abort":               s.VMALockAbort,
		"vma_lock_retry":               s.VMALockRetry,
		"vma_lock_miss":                s.VMALockMiss,
		"nr_tlb_remote_flush":          s.NrTLBRemoteFlush,
		"nr_tlb_remote_flush_received": s.NrTLBRemoteFlushReceived,
		"vmsim_fast_path":              s.FastPath,
		"vmsim_slow_path":              s.SlowPath,
		"vmsim_retries":                s.Retries,
		"vmsim_fallbacks":              s.Fallbacks,
		"vmsim_locked_faults":          s.LockedFaults,
		"vmsim_installs":               s.Installs,
		"vmsim_install_raced":          s.InstallRaced,
		"vmsim_cow":                    s.CopyOnWrite,
		"vmsim_released_for_io":        s.ReleasedForIO,
		"vmsim_segv_maperr":            s.SegvMaperr,
		"vmsim_segv_accerr":            s.SegvAccerr,
		"vmsim_sigbus":                 s.Sigbus,
		"vmsim_oom":                    s.OOM,
		"vmsim_tlb_hits":               s.TLBHits,
		"vmsim_tlb_misses":             s.TLBMisses,
		"vmsim_shootdowns":             s.Shootdowns,
		"vmsim_forks":                  s.Forks,
	}
}
