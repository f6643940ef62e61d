package explore

import (
	"sync"
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

// mapFixedSetup builds the MAP_FIXED scenario's address space: one
// anonymous page holding 1, and a file page holding 2 to map over it.
func mapFixedSetup(as *mmap.AddressSpace) (addr uint64, f *mmap.File) {
	addr, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	if err != nil {
		panic(err)
	}
	t := as.NewThread()
	if err := t.WriteUint64(addr, 1); err != nil {
		panic(err)
	}
	t.Close()
	f = mmap.NewFile("new", make([]byte, mmap.PageSize), mmap.FileOptions{})
	f.WriteAt([]byte{2, 0, 0, 0, 0, 0, 0, 0}, 0)
	return addr, f
}

// mapFixedBench is the MAP_FIXED scenario of the benchmarks: A and C read
// one address while B maps a file over it.
func mapFixedBench(pol mmap.Policy) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol})
		addr, f := mapFixedSetup(as)
		for _, name := range []string{"A", "C"} {
			e.Go(name, as, func(t *mmap.Thread) { t.ReadUint64(addr) })
		}
		e.Go("B", as, func(t *mmap.Thread) {
			t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, f, 0)
		})
	}
}

// BenchmarkMapFixedSchedule measures one controlled schedule of the
// MAP_FIXED scenario, one worker, random choices.
func BenchmarkMapFixedSchedule(b *testing.B) {
	r, err := Run(Options{Schedules: b.N, Workers: 1, Strategy: Random()}, mapFixedBench(mmap.PolicyRCURefcount))
	if err != nil || r.Failed > 0 {
		b.Fatal(err, r.Failures)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "schedules/s")
}

// BenchmarkMapFixedFreeRound is the same work free-running: the same
// address-space setup, then the three threads on goroutines racing.
func BenchmarkMapFixedFreeRound(b *testing.B) {
	for range b.N {
		as, _ := mmap.New(mmap.Config{})
		addr, f := mapFixedSetup(as)
		var wg sync.WaitGroup
		for range 2 {
			t := as.NewThread()
			wg.Go(func() { t.ReadUint64(addr); t.Close() })
		}
		t := as.NewThread()
		wg.Go(func() {
			t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, f, 0)
			t.Close()
		})
		wg.Wait()
		as.Check()
		as.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rounds/s")
}

// BenchmarkExhaustiveMapFixed runs every schedule of the MAP_FIXED
// scenario with at most two preemptions, per policy, on every processor.
func BenchmarkExhaustiveMapFixed(b *testing.B) {
	for _, pol := range policies {
		b.Run(pol.String(), func(b *testing.B) {
			var r *Report
			for range b.N {
				var err error
				if r, err = Run(Options{Strategy: Exhaustive(2)}, mapFixedBench(pol)); err != nil || !r.Complete || r.Failed > 0 {
					b.Fatal(err, r)
				}
			}
			b.ReportMetric(float64(r.Schedules), "schedules")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/search")
		})
	}
}

// BenchmarkNewClose measures creating and closing an address space that
// touches nothing.
func BenchmarkNewClose(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		as, _ := mmap.New(mmap.Config{})
		as.Close()
	}
}
