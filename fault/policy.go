package fault

import (
	"fmt"
	"strings"

	"github.com/vmsim/vmsim/sched"
)

// Policy selects how a fault finds and pins its VMA against concurrent
// munmap, mprotect and mmap(MAP_FIXED).
type Policy int

const (
	// PolicyRCURefcount is Matthew Wilcox's December 2019 proposal: look
	// the VMA up under RCU, try the backing's MapPages with no reference,
	// take a per-VMA reference only for the slow path, and fall back to
	// the mmap read lock after a bounded number of retries or when the
	// lookup finds nothing. It is the zero value.
	PolicyRCURefcount Policy = iota
	// PolicyMmapLock is the kernel before 6.4: every fault holds the mmap
	// lock for reading from lookup to PTE install.
	PolicyMmapLock
	// PolicyPerVMALock is Linux 6.4+: the VMA is read-locked under RCU
	// (vm_refcnt and vm_lock_seq against mm_lock_seq, the 6.15 form);
	// writers mark each VMA they change and wait for its readers; a failed
	// read lock falls back to the mmap lock.
	PolicyPerVMALock
)

// String returns the policy's name as the examples print it.
func (p Policy) String() string {
	switch p {
	case PolicyRCURefcount:
		return "rcu-refcount"
	case PolicyMmapLock:
		return "mmap-lock"
	case PolicyPerVMALock:
		return "per-vma-lock"
	}
	return "policy(?)"
}

// Quirks deliberately weaken one rule each, so that examples can show the
// failure and tests can prove they would catch it. The zero value breaks
// nothing.
type Quirks uint32

const (
	// QuirkNonAtomicFixedReplace publishes the unmap of a MAP_FIXED
	// replace before the new VMA, as Linux did before 6.12, so a lockless
	// lookup can find a gap where both the old and the new mapping exist.
	QuirkNonAtomicFixedReplace Quirks = 1 << iota
	// QuirkNoLockFallback makes a failed RCU lookup final: the fault
	// reports SIGSEGV instead of retrying under the mmap lock.
	QuirkNoLockFallback
	// QuirkNoGracePeriod frees detached VMAs and zapped frames at once,
	// without waiting for readers or for the TLB shootdown.
	QuirkNoGracePeriod
	// QuirkNoShootdown skips TLB shootdowns, so other threads keep using
	// stale translations after munmap or mprotect returns.
	QuirkNoShootdown
	// QuirkNoDetachCheck installs PTEs without re-checking, under the
	// page-table lock, that the VMA is still attached.
	QuirkNoDetachCheck
	// QuirkForkNoVMALock makes fork copy the parent's VMAs without
	// write-marking them (vma_start_write), as Linux 6.4 did before
	// commit fb49c455323f ("fork: lock VMAs of the parent process when
	// forking"): under PolicyPerVMALock and PolicyRCURefcount a fault in
	// the parent may then run while its VMA is copied, and a COW fault
	// that gives the VMA its first anon_vma after the child's copy was
	// made without one leaves the child mapping a page of an anon_vma it
	// never cloned: a broken reverse map. PolicyMmapLock is not affected.
	QuirkForkNoVMALock
)

// Unknown returns the bits of q that name no quirk.
func (q Quirks) Unknown() Quirks {
	for _, n := range quirkNames {
		q &^= n.q
	}
	return q
}

// Has reports whether every quirk in x is set in q.
func (q Quirks) Has(x Quirks) bool { return q&x == x }

// quirkNames lists the quirks by the names the examples' -quirks flag uses.
var quirkNames = []struct {
	q    Quirks
	name string
}{
	{QuirkNonAtomicFixedReplace, "non-atomic-fixed-replace"},
	{QuirkNoLockFallback, "no-lock-fallback"},
	{QuirkNoGracePeriod, "no-grace-period"},
	{QuirkNoShootdown, "no-shootdown"},
	{QuirkNoDetachCheck, "no-detach-check"},
	{QuirkForkNoVMALock, "fork-no-vma-lock"},
}

// String returns the set quirks as a comma-separated list of names, or
// "none".
func (q Quirks) String() string {
	s := ""
	for _, n := range quirkNames {
		if q&n.q != 0 {
			if s != "" {
				s += ","
			}
			s += n.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// ParseQuirks parses a comma-separated list of quirk names, as printed by
// Quirks.String; "" and "none" are the empty set.
func ParseQuirks(s string) (Quirks, error) {
	var q Quirks
	if s == "" || s == "none" {
		return 0, nil
	}
next:
	for _, name := range strings.Split(s, ",") {
		for _, n := range quirkNames {
			if n.name == strings.TrimSpace(name) {
				q |= n.q
				continue next
			}
		}
		return 0, fmt.Errorf("fault: unknown quirk %q", name)
	}
	return q, nil
}

// Config parameterises an MM. Its zero value is the Linux default.
type Config struct {
	Policy Policy
	Quirks Quirks
	// FaultAroundPages is the fault-around window of MapPages, in pages
	// (Linux fault_around_bytes / PAGE_SIZE); 0 means 16, 1 disables
	// fault-around.
	FaultAroundPages int
	// MaxRetries bounds the lockless attempts of one fault before it
	// falls back to the mmap read lock; 0 means 3.
	MaxRetries int
	// Sched, if not nil, controls the MM's locks, waits and scheduling
	// points (see package sched); nil is free-running.
	Sched *sched.Sched
}
