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

// TestStatsCountSuccessfulCallsOnly: Mprotects and Madvises count the
// calls that succeeded, as documented; a call that changes part of its
// range and then fails (ENOMEM at a hole, EACCES at a read-only file)
// is not counted.
func TestStatsCountSuccessfulCallsOnly(t *testing.T) {
	as := newAS(t, mmap.Config{})
	rw := mmap.ProtRead | mmap.ProtWrite
	f := mmap.NewFile("ro", make([]byte, mmap.PageSize), mmap.FileOptions{}).OpenReadOnly()
	ro, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	require.NoError(t, err)
	addr, err := as.Mmap(0, 3*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	require.NoError(t, as.Munmap(addr+mmap.PageSize, mmap.PageSize)) // a hole in the middle

	s := as.Stats()
	require.ErrorIs(t, as.Mprotect(addr, 3*mmap.PageSize, mmap.ProtRead), mmap.ENOMEM)
	require.ErrorIs(t, as.Mprotect(ro, mmap.PageSize, rw), mmap.EACCES)
	require.ErrorIs(t, as.Madvise(addr, 3*mmap.PageSize, mmap.MadvDontneed), mmap.ENOMEM)
	require.ErrorIs(t, as.Madvise(addr, 3*mmap.PageSize, mmap.MadvPopulateRead), mmap.ENOMEM)
	after := as.Stats()
	require.Equal(t, s.Mprotects, after.Mprotects, "failed mprotect calls counted")
	require.Equal(t, s.Madvises, after.Madvises, "failed madvise calls counted")

	require.NoError(t, as.Mprotect(addr, mmap.PageSize, mmap.ProtRead))
	require.NoError(t, as.Madvise(addr, mmap.PageSize, mmap.MadvDontneed))
	after = as.Stats()
	require.Equal(t, s.Mprotects+1, after.Mprotects)
	require.Equal(t, s.Madvises+1, after.Madvises)
}
