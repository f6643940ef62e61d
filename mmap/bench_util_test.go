package mmap_test

// Helpers shared by the bench_*_test.go files. Every name starts with
// "bench" so that it cannot collide with the helpers of other tests in
// package mmap_test.

import (
	"runtime"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// benchPolicies are the three locking policies, each measured separately.
var benchPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

// benchRW is the protection of the mappings the benchmarks fault in.
const benchRW = mmap.ProtRead | mmap.ProtWrite

// benchAnon is a private anonymous mapping.
const benchAnon = mmap.MapPrivate | mmap.MapAnonymous

// benchNewAS returns an address space closed when the benchmark ends.
func benchNewAS(b *testing.B, cfg mmap.Config) *mmap.AddressSpace {
	b.Helper()
	as, err := mmap.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := as.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return as
}

// benchNeedKernel skips the real-kernel side where there is none to
// measure: it is never faked.
func benchNeedKernel(b *testing.B) {
	b.Helper()
	if !kbench.Supported() {
		b.Skipf("the real-kernel side needs Linux on amd64 or arm64 (have %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
}

// benchPer reports the elapsed time divided by n as unit ("ns/fault").
func benchPer(b *testing.B, n int64, unit string) {
	if n > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), unit)
	}
}

// benchRate reports n per second of elapsed time as unit ("faults/s").
func benchRate(b *testing.B, n int64, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// benchPathFaults returns how many faults between before and after took
// the path a policy's fault takes when nothing races with it: the RCU fast
// path (PolicyRCURefcount, for faults completed under RCU with no
// reference), the mmap read lock (PolicyMmapLock) or a per-VMA read lock
// (PolicyPerVMALock).
func benchPathFaults(p mmap.Policy, before, after mmap.Stats) int64 {
	switch p {
	case mmap.PolicyMmapLock:
		return after.LockedFaults - before.LockedFaults
	case mmap.PolicyPerVMALock:
		return after.VMALockSuccess - before.VMALockSuccess
	}
	return after.FastPath - before.FastPath
}

// benchNoSignals fails the benchmark if any fault between before and after
// ended in a signal or OOM: a benchmark that faults must fault cleanly.
func benchNoSignals(b *testing.B, before, after mmap.Stats) {
	b.Helper()
	if d := (after.SegvMaperr - before.SegvMaperr) + (after.SegvAccerr - before.SegvAccerr) +
		(after.Sigbus - before.Sigbus) + (after.OOM - before.OOM); d != 0 {
		b.Fatalf("%d faults ended in a signal or OOM", d)
	}
}

// benchPercentile returns the q-th quantile (0 < q < 1) of sorted, by the
// nearest-rank method.
func benchPercentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i, 1), len(sorted))-1]
}
