package mmap_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kbench"
	"github.com/vmsim/vmsim/mmap"
)

// The process the fork benchmarks copy: benchForkVMAs private anonymous
// VMAs of benchForkVMAPages pages, alternately rw- and rwx so that
// neighbours never merge, with benchForkTouched pages written (the first
// ones of each VMA, 16 or 17 per VMA).
const (
	benchForkVMAs     = 1000
	benchForkVMAPages = 17
	benchForkTouched  = 16384
)

// benchForkProt is the protection of VMA i.
func benchForkProt(i int) mmap.Prot {
	if i%2 == 1 {
		return benchRW | mmap.ProtExec
	}
	return benchRW
}

// BenchmarkFork measures Fork of an address space with 1,000 VMAs and
// 16,384 touched private pages (the child is closed, untimed, after each
// fork), under each policy, beside the real kernel's fork(2) of this test
// process holding the same mappings (its child exits at once). The
// kernel copies the Go runtime's own mappings too: "kernel-baseline"
// forks the process without the added ones, and the kernel's figure for
// the added mappings alone is the difference.
//
//	go test ./mmap -run '^$' -bench 'Fork$' -benchtime 200x
func BenchmarkFork(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run("sim/"+p.String(), func(b *testing.B) { benchForkSim(b, p) })
	}
	b.Run("kernel-baseline", func(b *testing.B) { benchForkKernel(b, false) })
	b.Run("kernel", func(b *testing.B) { benchForkKernel(b, true) })
}

func benchForkSim(b *testing.B, p mmap.Policy) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	th := as.NewThread()
	defer th.Close()
	touched := 0
	for i := range benchForkVMAs {
		a, err := as.Mmap(0, benchForkVMAPages*mmap.PageSize, benchForkProt(i), benchAnon, nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		for pg := range benchForkVMAPages {
			if pg*benchForkVMAs+i < benchForkTouched {
				if err := th.WriteUint64(a+uint64(pg)*mmap.PageSize, uint64(pg)); err != nil {
					b.Fatal(err)
				}
				touched++
			}
		}
	}
	if touched != benchForkTouched || as.MapCount() != benchForkVMAs {
		b.Fatalf("%d pages touched in %d VMAs", touched, as.MapCount())
	}
	var forking time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		child, err := th.Fork()
		forking += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if child.MapCount() != benchForkVMAs {
			b.Fatalf("child has %d VMAs", child.MapCount())
		}
		if err := child.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	benchForkReport(b, forking)
}

// benchForkReport reports the time per fork, and that time per VMA and
// per touched page.
func benchForkReport(b *testing.B, forking time.Duration) {
	per := float64(forking.Nanoseconds()) / float64(b.N)
	b.ReportMetric(per, "ns/fork")
	b.ReportMetric(per/benchForkVMAs, "ns/vma")
	b.ReportMetric(per/benchForkTouched, "ns/page")
}

func benchForkKernel(b *testing.B, withMappings bool) {
	benchNeedKernel(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if withMappings {
		for i := range benchForkVMAs {
			prot := kbench.ProtRead | kbench.ProtWrite
			if i%2 == 1 {
				prot |= kbench.ProtExec
			}
			r, err := kbench.MapRegion(benchForkVMAPages*kbench.PageSize, prot)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Unmap()
			for pg := range benchForkVMAPages {
				if pg*benchForkVMAs+i < benchForkTouched {
					r.WritePage(pg, 1)
				}
			}
		}
	}
	runtime.GC() // no collection starts in the middle of the timed forks
	var forking time.Duration
	b.ResetTimer()
	for range b.N {
		c, took, err := kbench.Fork(false)
		if err != nil {
			b.Fatal(err)
		}
		forking += took
		b.StopTimer()
		if err := c.Release(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	benchForkReport(b, forking)
}

// benchCOWPages is how many pages one round of BenchmarkCOWFault writes
// after a fork.
const benchCOWPages = 1024

// BenchmarkCOWFault measures the first write to a private anonymous page
// after fork, while the child still maps it: a copy-on-write fault that
// copies the page (do_wp_page → wp_page_copy), beside the real kernel's
// (a raw fork(2) whose child waits, running no Go code, until the parent
// has written). One op is one page; forks and closes are untimed.
//
//	go test ./mmap -run '^$' -bench 'COWFault' -benchtime 200000x
func BenchmarkCOWFault(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run("sim/"+p.String(), func(b *testing.B) { benchCOWSim(b, p) })
	}
	b.Run("kernel", benchCOWKernel)
}

func benchCOWSim(b *testing.B, p mmap.Policy) {
	as := benchNewAS(b, mmap.Config{Policy: p})
	th := as.NewThread()
	defer th.Close()
	a, err := as.Mmap(0, benchCOWPages*mmap.PageSize, benchRW, benchAnon, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	for pg := range uint64(benchCOWPages) {
		if err := th.WriteUint64(a+pg*mmap.PageSize, pg); err != nil {
			b.Fatal(err)
		}
	}
	before := as.Stats()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		child, err := as.Fork()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for pg := 0; pg < benchCOWPages && done < b.N; pg, done = pg+1, done+1 {
			if err := th.WriteUint64(a+uint64(pg)*mmap.PageSize, uint64(done)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := child.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	after := as.Stats()
	benchNoSignals(b, before, after)
	if n := after.CopyOnWrite - before.CopyOnWrite; n != int64(b.N) {
		b.Fatalf("%d copies for %d first writes after fork, want one each", n, b.N)
	}
	benchPer(b, int64(b.N), "ns/fault")
}

func benchCOWKernel(b *testing.B) {
	benchNeedKernel(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := kbench.MapRegion(benchCOWPages*kbench.PageSize, kbench.ProtRead|kbench.ProtWrite)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Unmap()
	for pg := range benchCOWPages {
		r.WritePage(pg, 1)
	}
	minBefore, _, err := kbench.ThreadFaults()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		c, _, err := kbench.Fork(true)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for pg := 0; pg < benchCOWPages && done < b.N; pg, done = pg+1, done+1 {
			r.WritePage(pg, byte(done))
		}
		b.StopTimer()
		if err := c.Release(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	minAfter, _, _ := kbench.ThreadFaults()
	if f := minAfter - minBefore; f < int64(b.N) {
		b.Fatalf("%d minor faults for %d first writes after fork, want at least one each", f, b.N)
	}
	benchPer(b, int64(b.N), "ns/fault")
}
