package mmap_test

// Every quirk weakens one rule. Each test here runs a workload of the
// concurrency tests with the quirk on and requires that the workload's own
// detector — the very check the normal tests rely on — reports the broken
// rule within a bounded number of rounds; and runs the same workload with
// the quirk off and requires that it reports nothing. A suite that stayed
// green with a quirk on would not have tested that rule.
//
// A quirk can only break a rule where the policy depends on it: under
// PolicyMmapLock a fault looks up and installs with the mmap lock held
// (it drops the lock only to sleep for I/O, and then starts over), so it
// neither sees a half-done MAP_FIXED nor installs into a VMA being
// unmapped; under PolicyPerVMALock it installs with the VMA's read lock
// held, which the writer waits for before it detaches. Those combinations
// are skipped, with the reason.

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// detectRounds bounds how many rounds a quirk test runs before giving up.
// Most quirks show in the first round; a use after free needs a reader on
// another CPU inside a window of microseconds, which without the race
// detector's slowdown one round in ten or so provides.
const detectRounds = 150

// cleanRounds is how many rounds the same workload runs with the quirk
// off (the concurrency tests run it longer).
const cleanRounds = 30

// requireDetected fails unless vs holds a violation of one of kinds.
func requireDetected(t *testing.T, vs *violations, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		if vs.has(k) {
			t.Logf("detected, as required: %s", vs.summary())
			return
		}
	}
	t.Fatalf("quirk on, but no %v violation: the rule is untested (%v)", kinds, vs)
}

// requireClean fails if vs holds any violation.
func requireClean(t *testing.T, vs *violations) {
	t.Helper()
	require.Zero(t, vs.count(), "quirk off, yet: %v", vs)
}

// TestQuirkNonAtomicFixedReplaceIsDetected: with the unmap half of a
// MAP_FIXED replace published on its own (Linux before 6.12) and a failed
// lockless lookup taken as final, a reader of the range gets a spurious
// SIGSEGV/SEGV_MAPERR although the range is mapped before, during and
// after the replace. Alone, QuirkNonAtomicFixedReplace is masked: the
// lookup that finds the gap falls back to the mmap lock and waits for the
// new VMA, which is exactly why that fallback exists. QuirkNoLockFallback
// alone is masked too, and no workload can see it: with every change
// published at once, a lockless lookup that finds no VMA finds what the
// published tree holds, which is a legal answer for an access that
// overlaps the syscall (it may see the old state until the call returns).
func TestQuirkNonAtomicFixedReplaceIsDetected(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			if p == mmap.PolicyMmapLock {
				t.Skip("faults hold the mmap lock from lookup to install: they never see the gap")
			}
			both := mmap.QuirkNonAtomicFixedReplace | mmap.QuirkNoLockFallback
			// The gap lasts a few microseconds per replace, and a reader
			// must miss its TLB inside it: without the race detector's
			// slowdown about one replace in thirty shows it.
			requireDetected(t, runFixedReplace(t, mmap.Config{Policy: p, Quirks: both}, 10*detectRounds, true), "signal")
			requireClean(t, runFixedReplace(t, mmap.Config{Policy: p, Quirks: mmap.QuirkNonAtomicFixedReplace}, cleanRounds, false))
			requireClean(t, runFixedReplace(t, mmap.Config{Policy: p, Quirks: mmap.QuirkNoLockFallback}, cleanRounds, false))
			requireClean(t, runFixedReplace(t, mmap.Config{Policy: p}, cleanRounds, false))
		})
	}
}

// TestQuirkNoGracePeriodIsDetected: with the zapped frames of a munmap
// freed (and poisoned) before the TLB shootdown, a reader still using its
// TLB entry reads 0x6b6b6b6b6b6b6b6b.
func TestQuirkNoGracePeriodIsDetected(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			requireDetected(t, runMunmap(t, mmap.Config{Policy: p, Quirks: mmap.QuirkNoGracePeriod}, munmapAnon, detectRounds, true), "poison")
			requireClean(t, runMunmap(t, mmap.Config{Policy: p}, munmapAnon, cleanRounds, false))
		})
	}
}

// TestQuirkNoShootdownIsDetected: with no TLB shootdown, a thread keeps
// using its TLB entry after munmap returned (a read succeeds where it
// must get SEGV_MAPERR) and after mprotect(PROT_READ) returned (a store
// succeeds where it must get SEGV_ACCERR).
func TestQuirkNoShootdownIsDetected(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			cfg := mmap.Config{Policy: p, Quirks: mmap.QuirkNoShootdown}
			requireDetected(t, runMunmap(t, cfg, munmapAnon, detectRounds, true), "stale-after-return")
			requireDetected(t, runMprotect(t, cfg, protAnon, detectRounds, true), "stale-after-return")
			requireClean(t, runMunmap(t, mmap.Config{Policy: p}, munmapAnon, cleanRounds, false))
			requireClean(t, runMprotect(t, mmap.Config{Policy: p}, protAnon, cleanRounds, false))
		})
	}
}

// TestQuirkNoDetachCheckIsDetected: a slow-path fault asleep on a
// page-cache miss while munmap removes its VMA installs its PTE after the
// munmap's zap when it does not re-check, under the page-table lock, that
// the VMA is still attached: Check finds a PTE outside any VMA, and reads
// begun after Munmap returned succeed through it.
func TestQuirkNoDetachCheckIsDetected(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			switch p {
			case mmap.PolicyMmapLock:
				t.Skip("a fault installs only with the mmap lock held (it drops the lock to sleep, then starts over): munmap cannot come between its check and its install")
			case mmap.PolicyPerVMALock:
				t.Skip("a fault installs only with the VMA's read lock held, which munmap waits for before detaching (it drops the lock to sleep, then starts over)")
			}
			vs := runMunmap(t, mmap.Config{Policy: p, Quirks: mmap.QuirkNoDetachCheck}, munmapSlowFile, detectRounds, true)
			requireDetected(t, vs, "check", "stale-after-return")
			requireClean(t, runMunmap(t, mmap.Config{Policy: p}, munmapSlowFile, cleanRounds, false))
		})
	}
}
