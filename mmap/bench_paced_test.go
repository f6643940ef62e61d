package mmap_test

import (
	"testing"
	"time"
)

// benchPace is the interval at which BenchmarkFaultLatencyPaced issues
// faults.
const benchPace = 10 * time.Microsecond

// BenchmarkFaultLatencyPaced measures fault latency the way a user of
// the address space feels it, correcting for coordinated omission: the
// faulting thread is asked for one first-touch read fault every
// benchPace, and each fault's latency runs from when it was due, not
// from when the thread got round to it. While a writer's munmap of a
// populated 16 MiB region holds the faulting thread up, every fault that
// falls due meanwhile is late — so a long stall shows in p99 in
// proportion to how much of the time it covers, which
// BenchmarkFaultLatency (service time per fault) cannot show when only
// one fault per writer cycle waits. The writer is the same, and so is
// the kernel side: the real kernel's faults, paced alike, beside a thread
// doing the same mmap(MAP_POPULATE)+munmap cycle.
func BenchmarkFaultLatencyPaced(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run(p.String(), func(b *testing.B) { benchLatencySim(b, p, benchPace) })
	}
	b.Run("kernel", func(b *testing.B) { benchLatencyKernel(b, benchPace) })
}
