package mmap_test

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// counters returns every cumulative counter of s by name: the int64
// fields, the fault counters included (MapCount, Threads and FramesInUse
// are gauges, of type int, and left out).
func counters(s mmap.Stats) map[string]int64 {
	out := make(map[string]int64)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			switch {
			case sf.Anonymous:
				walk(f)
			case f.Kind() == reflect.Int64:
				out[sf.Name] = f.Int()
			}
		}
	}
	walk(reflect.ValueOf(s))
	return out
}

// TestStatsMonotonic: every counter of Stats is monotonic between two
// calls, while threads come and go (each closing thread's counts move
// from the live threads to the retired total) and populate paths create
// and close hidden threads.
func TestStatsMonotonic(t *testing.T) {
	require.Contains(t, counters(mmap.Stats{}), "Pgfault", "the walk must see the embedded fault counters")
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		const pages = 8
		addr, err := as.Mmap(0, pages*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		require.NoError(t, err)
		rounds := 400
		if raceEnabled {
			rounds = 100
		}
		var stop atomic.Bool
		var backwards []string
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			prev := counters(as.Stats())
			for !stop.Load() && len(backwards) < 5 {
				cur := counters(as.Stats())
				for name, v := range cur {
					if v < prev[name] {
						backwards = append(backwards, fmt.Sprintf("%s went from %d to %d", name, prev[name], v))
					}
				}
				prev = cur
			}
		}()
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := range rounds {
					th := as.NewThread()
					for pg := range uint64(pages) {
						_ = th.WriteUint64(addr+pg*mmap.PageSize, uint64(i))
					}
					th.Close()
					if w == 0 {
						_ = as.Madvise(addr, pages*mmap.PageSize, mmap.MadvDontneed)
					} else {
						_ = as.Madvise(addr, pages*mmap.PageSize, mmap.MadvPopulateWrite)
					}
				}
			})
		}
		wg.Wait()
		stop.Store(true)
		<-checked
		require.Empty(t, backwards)
	})
}
