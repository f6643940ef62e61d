package trace

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Recorder collects events from any number of tracks and hands them to the
// writers (WriteText, WriteChromeJSON, WriteSVG).
//
// Concurrency: every method is safe for concurrent use. Track and
// SharedTrack take r.mu briefly; recording (Buffer.Emit) never touches r.mu,
// so tracks do not contend with each other. Events may be called while
// tracks are still being written: it returns, for every track, a prefix of
// what that track has recorded.
type Recorder struct {
	start time.Time    // immutable; carries the monotonic reading Now is relative to
	clock func() int64 // immutable; nil means time.Since(start)
	limit int          // immutable; events kept per track, <= 0 for no limit

	mu   sync.Mutex
	bufs []*Buffer // protected by mu; append-only, index == Buffer.id
}

// NewRecorder returns a recorder that keeps every event, stamped with the
// monotonic time since the call.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now()}
}

// NewRecorderLimit returns a recorder whose tracks each keep their first
// maxEventsPerTrack events and count the rest as dropped (see Dropped), so a
// long run uses bounded memory. The beginning of a run is kept rather than
// the end because that is where a trace is read from, and because keeping a
// prefix leaves every recorded slice's Begin in place (writers close slices
// whose End was dropped at the end of the trace). maxEventsPerTrack <= 0
// means no limit.
func NewRecorderLimit(maxEventsPerTrack int) *Recorder {
	return &Recorder{start: time.Now(), limit: maxEventsPerTrack}
}

// NewRecorderWithClock returns a recorder that stamps events with clock()
// instead of the real monotonic clock: tests and examples use it for
// deterministic output. clock must be safe for concurrent use if tracks are
// written concurrently, and should never go backwards. A nil clock means the
// real clock.
func NewRecorderWithClock(clock func() int64) *Recorder {
	return &Recorder{start: time.Now(), clock: clock}
}

// Now returns the time Emit would stamp on an event now: nanoseconds since
// the recorder was created, from the monotonic clock (or the fake clock).
// Safe for concurrent use.
func (r *Recorder) Now() int64 {
	if r.clock != nil {
		return r.clock()
	}
	return int64(time.Since(r.start))
}

// Track returns a new single-producer track called name: one goroutine at a
// time may Emit on it (a simulated thread's own goroutine), and Emit takes no
// lock. Use SharedTrack for a track that several goroutines write. Names need
// not be unique; each call makes a distinct track. Safe for concurrent use.
func (r *Recorder) Track(name string) *Buffer {
	return r.newBuffer(name, false)
}

// SharedTrack returns a new track called name whose Emit takes a small
// per-track mutex, so any number of goroutines may write it concurrently
// (e.g. the syscall track, written by whichever goroutine calls Mmap). Events
// on it are stamped under that mutex, so their times are in recording order.
// Safe for concurrent use.
func (r *Recorder) SharedTrack(name string) *Buffer {
	return r.newBuffer(name, true)
}

func (r *Recorder) newBuffer(name string, shared bool) *Buffer {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &Buffer{rec: r, id: len(r.bufs), name: name, limit: r.limit}
	if shared {
		b.mu = new(sync.Mutex)
	}
	b.dir.Store(new([][]Event))
	r.bufs = append(r.bufs, b)
	return b
}

// buffers returns a snapshot of the tracks in creation order.
func (r *Recorder) buffers() []*Buffer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bufs)
}

// Tracks returns the names of the tracks in creation order; Event.Track
// indexes this slice. Safe for concurrent use.
func (r *Recorder) Tracks() []string {
	bufs := r.buffers()
	names := make([]string, len(bufs))
	for i, b := range bufs {
		names[i] = b.name
	}
	return names
}

// Events returns the events of all tracks merged in time order; events with
// equal times are ordered by track, and keep their recording order within a
// track. The result is a fresh slice the caller owns.
//
// Call it after the recording goroutines have stopped for the whole trace.
// Called while they run, it is still race-free and returns a consistent
// prefix of each track, but the prefixes of different tracks are taken at
// slightly different moments.
func (r *Recorder) Events() []Event {
	bufs := r.buffers()
	var out []Event
	for _, b := range bufs {
		out = b.appendPrefix(out)
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		if c := cmp.Compare(a.Time, b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Track, b.Track)
	})
	return out
}

// Dropped returns how many events all tracks have discarded because of the
// limit given to NewRecorderLimit. Safe for concurrent use.
func (r *Recorder) Dropped() int {
	n := 0
	for _, b := range r.buffers() {
		n += b.Dropped()
	}
	return n
}
