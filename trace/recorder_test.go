package trace

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// stepClock returns a fake clock that advances by step on every reading.
// Safe for concurrent use.
func stepClock(step int64) func() int64 {
	var now atomic.Int64
	return func() int64 { return now.Add(step) - step }
}

func TestNilBufferIsOff(t *testing.T) {
	var b *Buffer
	b.Emit(Event{Kind: Note, Arg: "ignored"}) // must not panic
	if b.Enabled() {
		t.Error("nil Buffer reports Enabled")
	}
	if b.Name() != "" || b.Dropped() != 0 {
		t.Error("nil Buffer has a name or drops")
	}
	if !NewRecorder().Track("t").Enabled() {
		t.Error("live Buffer reports not Enabled")
	}
}

// checkPrefixes asserts what Events promises even while tracks are being
// written: sorted by time, and on each track the values 0, 1, 2, ... in
// order with none missing (a consistent prefix). For the shared track,
// values are per writer, encoded as writer<<32 | seq.
func checkPrefixes(evs []Event, sharedTrack int) (map[int]int, error) {
	next := map[int]uint64{} // track (or shared writer) -> next expected seq
	counts := map[int]int{}  // track -> events
	for i, e := range evs {
		if i > 0 && (e.Time < evs[i-1].Time || (e.Time == evs[i-1].Time && e.Track < evs[i-1].Track)) {
			return nil, fmt.Errorf("event %d out of (time, track) order: %+v after %+v", i, e, evs[i-1])
		}
		key := e.Track
		seq := e.Value
		if e.Track == sharedTrack {
			key = 1000 + int(e.Value>>32)
			seq = e.Value & 0xffffffff
		}
		if seq != next[key] {
			return nil, fmt.Errorf("track %d (key %d): got seq %d, want %d: not a prefix in order", e.Track, key, seq, next[key])
		}
		next[key]++
		counts[e.Track]++
	}
	return counts, nil
}

func TestConcurrentEmitOwnAndSharedTracks(t *testing.T) {
	const writers, perWriter, sharedWriters, perShared = 4, 3000, 4, 700
	r := NewRecorder()
	shared := r.SharedTrack("syscalls")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() { // a reader racing with the writers sees consistent prefixes
		for {
			select {
			case <-stop:
				readerErr <- nil
				return
			default:
			}
			if _, err := checkPrefixes(r.Events(), shared.id); err != nil {
				readerErr <- fmt.Errorf("concurrent Events: %w", err)
				return
			}
			_ = r.Tracks()
			_ = r.Dropped()
		}
	}()
	for w := range writers {
		b := r.Track(fmt.Sprintf("thread %d", w))
		wg.Go(func() {
			for i := range perWriter {
				b.Emit(Event{Kind: Load, Addr: uint64(w), Value: uint64(i)})
			}
		})
	}
	for w := range sharedWriters {
		wg.Go(func() {
			for i := range perShared {
				shared.Emit(Event{Kind: Note, Value: uint64(w)<<32 | uint64(i)})
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}

	evs := r.Events()
	if want := writers*perWriter + sharedWriters*perShared; len(evs) != want {
		t.Fatalf("Events() has %d events, want %d", len(evs), want)
	}
	counts, err := checkPrefixes(evs, shared.id)
	if err != nil {
		t.Fatal(err)
	}
	names := r.Tracks()
	if len(names) != writers+1 || names[0] != "syscalls" || names[1] != "thread 0" {
		t.Fatalf("Tracks() = %q", names)
	}
	for i := range writers {
		if counts[i+1] != perWriter {
			t.Errorf("track %d has %d events, want %d", i+1, counts[i+1], perWriter)
		}
	}
	for _, e := range evs {
		if e.Kind == Load && int(e.Addr)+1 != e.Track {
			t.Fatalf("event from writer %d stamped with track %d", e.Addr, e.Track)
		}
	}
	if r.Dropped() != 0 {
		t.Errorf("unbounded recorder dropped %d", r.Dropped())
	}
}

func TestEmitStampsTimeAndTrack(t *testing.T) {
	r := NewRecorderWithClock(stepClock(10))
	a, b := r.Track("a"), r.Track("b")
	a.Emit(Event{Kind: Note, Arg: "a0", Time: 999, Track: 7}) // caller's stamps are overwritten
	b.Emit(Event{Kind: Note, Arg: "b0"})
	a.Emit(Event{Kind: Note, Arg: "a1"})
	evs := r.Events()
	want := []struct {
		time  int64
		track int
		arg   string
	}{{0, 0, "a0"}, {10, 1, "b0"}, {20, 0, "a1"}}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		if evs[i].Time != w.time || evs[i].Track != w.track || evs[i].Arg != w.arg {
			t.Errorf("event %d = %+v, want time %d track %d arg %q", i, evs[i], w.time, w.track, w.arg)
		}
	}
}

func TestEqualTimesOrderedByTrackThenRecording(t *testing.T) {
	r := NewRecorderWithClock(func() int64 { return 5 })
	a, b := r.Track("a"), r.Track("b")
	b.Emit(Event{Kind: Note, Arg: "b0"})
	a.Emit(Event{Kind: Note, Arg: "a0"})
	b.Emit(Event{Kind: Note, Arg: "b1"})
	a.Emit(Event{Kind: Note, Arg: "a1"})
	var got []string
	for _, e := range r.Events() {
		got = append(got, e.Arg)
	}
	if fmt.Sprint(got) != "[a0 a1 b0 b1]" {
		t.Errorf("equal-time order = %v, want [a0 a1 b0 b1]", got)
	}
}

func TestLimitKeepsFirstNAndCountsDropped(t *testing.T) {
	r := NewRecorderLimit(10)
	busy, quiet, shared := r.Track("busy"), r.Track("quiet"), r.SharedTrack("shared")
	for i := range 25 {
		busy.Emit(Event{Kind: Note, Value: uint64(i)})
	}
	for i := range 5 {
		quiet.Emit(Event{Kind: Note, Value: uint64(i)})
	}
	for i := range 12 {
		shared.Emit(Event{Kind: Note, Value: uint64(i)})
	}
	if got := r.Dropped(); got != 15+2 {
		t.Errorf("Dropped() = %d, want 17", got)
	}
	if busy.Dropped() != 15 || quiet.Dropped() != 0 || shared.Dropped() != 2 {
		t.Errorf("per-track dropped = %d, %d, %d; want 15, 0, 2", busy.Dropped(), quiet.Dropped(), shared.Dropped())
	}
	per := map[int][]uint64{}
	for _, e := range r.Events() {
		per[e.Track] = append(per[e.Track], e.Value)
	}
	for track, n := range map[int]int{0: 10, 1: 5, 2: 10} {
		if len(per[track]) != n {
			t.Errorf("track %d kept %d events, want %d", track, len(per[track]), n)
		}
		for i, v := range per[track] {
			if v != uint64(i) {
				t.Errorf("track %d kept value %d at %d: not the first events", track, v, i)
			}
		}
	}
}

func TestLimitZeroMeansUnlimited(t *testing.T) {
	r := NewRecorderLimit(0)
	b := r.Track("t")
	for range 3 * maxChunk {
		b.Emit(Event{Kind: Note})
	}
	if len(r.Events()) != 3*maxChunk || r.Dropped() != 0 {
		t.Errorf("limit 0 kept %d of %d, dropped %d", len(r.Events()), 3*maxChunk, r.Dropped())
	}
}

func TestNowIsMonotonic(t *testing.T) {
	r := NewRecorder()
	prev := r.Now()
	for range 1000 {
		now := r.Now()
		if now < prev {
			t.Fatalf("Now went backwards: %d after %d", now, prev)
		}
		prev = now
	}
}

// Emit on a live owned track must not allocate per event: chunk growth is
// amortised (at most a couple of allocations per thousands of events).
func TestEmitDoesNotAllocatePerEvent(t *testing.T) {
	b := NewRecorder().Track("t")
	e := Event{Kind: Load, Addr: 0x1000, Value: 1, Arg: "const"}
	allocs := testing.AllocsPerRun(5000, func() { b.Emit(e) })
	if allocs > 0.01 {
		t.Errorf("Emit allocates %.3f times per event", allocs)
	}
	var off *Buffer
	if a := testing.AllocsPerRun(1000, func() { off.Emit(e) }); a != 0 {
		t.Errorf("Emit on nil Buffer allocates %.3f times", a)
	}
}
