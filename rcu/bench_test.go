package rcu_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/vmsim/vmsim/rcu"
)

// reportCPUCost adds cpu-ns/op for a RunParallel benchmark: wall time per
// operation times the processors running them, i.e. what one operation
// costs the CPU that runs it. Compare it with the single-goroutine ns/op to
// see contention.
func reportCPUCost(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())*float64(runtime.GOMAXPROCS(0))/float64(b.N), "cpu-ns/op")
}

// One read-side section: the fast path of every RCU reader.
func BenchmarkReadLockUnlock(b *testing.B) {
	d := rcu.NewDomain()
	r := d.Register()
	defer r.Unregister()
	for range b.N {
		r.Lock()
		//lint:ignore SA2001 the empty pair is what is measured
		r.Unlock()
	}
}

// A nested pair inside an open section: only the depth changes.
func BenchmarkReadLockUnlockNested(b *testing.B) {
	d := rcu.NewDomain()
	r := d.Register()
	defer r.Unregister()
	r.Lock()
	for range b.N {
		r.Lock()
		//lint:ignore SA2001 the empty pair is what is measured
		r.Unlock()
	}
	r.Unlock()
}

// The baseline the read side replaces.
func BenchmarkRWMutexRLockRUnlock(b *testing.B) {
	var mu sync.RWMutex
	for range b.N {
		mu.RLock()
		//lint:ignore SA2001 the empty pair is what is measured
		mu.RUnlock()
	}
}

// Every goroutine is its own reader: no shared cache line is written.
func BenchmarkReadLockUnlockParallel(b *testing.B) {
	d := rcu.NewDomain()
	b.RunParallel(func(pb *testing.PB) {
		r := d.Register()
		defer r.Unregister()
		for pb.Next() {
			r.Lock()
			//lint:ignore SA2001 the empty pair is what is measured
			r.Unlock()
		}
	})
	reportCPUCost(b)
}

// Every goroutine writes the RWMutex's reader count: the line bounces.
func BenchmarkRWMutexRLockRUnlockParallel(b *testing.B) {
	var mu sync.RWMutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.RLock()
			//lint:ignore SA2001 the empty pair is what is measured
			mu.RUnlock()
		}
	})
	reportCPUCost(b)
}

// A grace period with idle registered readers: the writer's fixed cost.
func BenchmarkSynchronize(b *testing.B) {
	for _, n := range []int{0, 1, 8} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			d := rcu.NewDomain()
			for range n {
				r := d.Register()
				r.Lock()
				//lint:ignore SA2001 the empty pair is what is measured
				r.Unlock()
				defer r.Unregister()
			}
			for range b.N {
				d.Synchronize()
			}
		})
	}
}

// Queuing a callback, amortised over batches: Barrier at the end waits for
// the grace periods and runs.
func BenchmarkCall(b *testing.B) {
	d := rcu.NewDomain()
	defer d.Close()
	f := func() {}
	for range b.N {
		d.Call(f)
	}
	d.Barrier()
}
