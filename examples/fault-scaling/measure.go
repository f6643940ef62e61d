package main

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/mmap"
)

// cell is one measurement: a policy, a number of faulting threads, churn
// on or off.
type cell struct {
	policy  mmap.Policy
	threads int
	churn   bool
	faults  int64
	elapsed time.Duration
	churned int64      // mmap+munmap pairs the writer completed
	stats   mmap.Stats // the whole cell's counters
	sample  []int64    // ns: the duration of every sampleEvery-th fault, sorted
}

// sampleEvery is how often a faulting thread times one of its faults
// (each read is one fault): timing all of them would cost more than the
// ones timed show.
const sampleEvery = 4

// quantile returns the q-th quantile of the sampled fault durations, ns.
func (c cell) quantile(q float64) int64 {
	if len(c.sample) == 0 {
		return 0
	}
	return c.sample[min(int(q*float64(len(c.sample))), len(c.sample)-1)]
}

func (c cell) rate() float64 { return float64(c.faults) / c.elapsed.Seconds() }

// churnBase is where the churn writer maps: far below the faulting
// threads' mappings, so it never touches their VMAs.
const churnBase = 0x2000_0000_0000

// newFile returns the file every faulting thread maps: pages pages, each
// holding its number.
func newFile(pages int) *mmap.File {
	data := make([]byte, pages*mmap.PageSize)
	for n := range pages {
		binary.LittleEndian.PutUint64(data[n*mmap.PageSize:], uint64(n))
	}
	return mmap.NewFile("data", data, mmap.FileOptions{})
}

// measure runs one cell in a fresh address space and returns its fault
// throughput.
func measure(p mmap.Policy, threads int, churn bool, churnRate int, d time.Duration, pages int, file *mmap.File) (cell, error) {
	c := cell{policy: p, threads: threads, churn: churn}
	// FaultAroundPages 1: every page is its own fault.
	as, err := mmap.New(mmap.Config{Policy: p, FaultAroundPages: 1})
	if err != nil {
		return c, err
	}
	defer as.Close()
	length := uint64(pages) * mmap.PageSize

	// Fill the page cache first, so that every fault measured is minor.
	a, err := as.Mmap(0, length, mmap.ProtRead, mmap.MapShared|mmap.MapPopulate, file, 0)
	if err != nil {
		return c, fmt.Errorf("warm-up mmap: %w", err)
	}
	if err := as.Munmap(a, length); err != nil {
		return c, err
	}

	var (
		start    sync.WaitGroup // everyone ready
		go_      = make(chan struct{})
		stop     atomic.Bool
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; stop.Store(true) }) }

	samples := make([][]int64, threads)
	for i := range threads {
		t := as.NewThreadNamed(fmt.Sprintf("F%d", i))
		base, err := t.Mmap(0, length, mmap.ProtRead, mmap.MapShared, file, 0)
		if err != nil {
			return c, fmt.Errorf("mmap: %w", err)
		}
		start.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Done()
			<-go_
			// Start each thread at a different page, so that they do
			// not all take the same page's reference at once.
			off := uint64(i*pages/threads) * mmap.PageSize
			for !stop.Load() {
				for k := uint64(0); k < length && !stop.Load(); k += mmap.PageSize {
					// Let other goroutines in now and then: Go does not
					// preempt a busy goroutine for 10 ms, and the churn
					// writer (or another faulting thread) would starve
					// where a kernel's scheduler would run it.
					if k%(64*mmap.PageSize) == 0 {
						runtime.Gosched()
					}
					addr := base + (off+k)%length
					var t0 time.Time
					timed := k%(sampleEvery*mmap.PageSize) == 0
					if timed {
						t0 = time.Now()
					}
					if _, err := t.ReadUint64(addr); err != nil {
						fail(fmt.Errorf("read %#x: %w", addr, err))
						return
					}
					if timed && !stop.Load() {
						samples[i] = append(samples[i], int64(time.Since(t0)))
					}
				}
				if err := t.Madvise(base, length, mmap.MadvDontneed); err != nil {
					fail(fmt.Errorf("madvise: %w", err))
					return
				}
			}
		}()
	}
	if churn {
		w := as.NewThreadNamed("churn")
		start.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Done()
			<-go_
			const n = 16 * mmap.PageSize
			t0 := time.Now()
			for !stop.Load() {
				// Keep to churnRate pairs per second (0: flat out), so
				// that every policy faces the same writer, whose own CPU
				// use stays small.
				if churnRate > 0 {
					due := t0.Add(time.Duration(c.churned) * time.Second / time.Duration(churnRate))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
						continue
					}
				}
				a, err := w.Mmap(churnBase, n, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
				if err != nil {
					fail(fmt.Errorf("churn mmap: %w", err))
					return
				}
				if err := w.Munmap(a, n); err != nil {
					fail(fmt.Errorf("churn munmap: %w", err))
					return
				}
				c.churned++ // only this goroutine writes it before wg.Wait
			}
		}()
	}

	start.Wait()
	before := as.Stats().Pgfault
	t0 := time.Now()
	close(go_)
	time.Sleep(d)
	after := as.Stats().Pgfault
	c.elapsed = time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return c, firstErr
	}
	c.faults = after - before
	c.stats = as.Stats()
	for _, s := range samples {
		c.sample = append(c.sample, s...)
	}
	slices.Sort(c.sample)
	if err := as.Check(); err != nil {
		return c, fmt.Errorf("the invariant check after the run: %w", err)
	}
	return c, nil
}
