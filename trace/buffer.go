package trace

import (
	"sync"
	"sync/atomic"
)

// Chunk sizes: the first chunk of a track is small so that thousands of
// mostly idle tracks stay cheap; each next chunk doubles, up to a cap, so a
// busy track allocates rarely (amortised far below one allocation per event)
// and never copies the events it already holds.
const (
	firstChunk = 64
	maxChunk   = 4096
)

// Buffer is one track of a Recorder: an append-only list of events.
//
// Concurrency: a Buffer from Recorder.Track is single-producer — one
// goroutine at a time may call Emit, and Emit takes no lock. A Buffer from
// Recorder.SharedTrack serialises Emit with a per-track mutex, so any number
// of goroutines may call it. In both cases Recorder.Events may read the
// buffer concurrently with Emit: the producer publishes events with an
// atomic count and the reader copies only what is published.
//
// A nil *Buffer is valid: Emit does nothing and Enabled reports false. That
// is how tracing costs nothing when it is off.
type Buffer struct {
	rec   *Recorder   // immutable
	id    int         // immutable; index in rec.bufs, stamped as Event.Track
	name  string      // immutable
	limit int         // immutable; events kept, <= 0 for no limit
	mu    *sync.Mutex // immutable; non-nil for a shared track

	// Producer-private state: touched only by the producer (the owning
	// goroutine, or whoever holds mu on a shared track).
	cur []Event // the chunk being filled; its length is its capacity
	pos int     // next free slot in cur
	n   int     // events stored so far

	// published is the number of events a reader may copy (atomic). Each
	// event is fully written before published covers it.
	published atomic.Int64
	// dir lists the chunks in order (atomic pointer to an immutable slice
	// header). A new chunk is in dir before published covers any slot of it.
	dir atomic.Pointer[[][]Event]
	// dropped counts events refused because of limit (atomic).
	dropped atomic.Int64
}

// Emit records e on the track, stamping e.Time with Recorder.Now and
// e.Track with this track's index. On a nil Buffer it does nothing.
// See Buffer for who may call it concurrently.
func (b *Buffer) Emit(e Event) {
	if b == nil {
		return
	}
	b.emit(e)
}

// emit is Emit's path for a live buffer, kept out of line so that Emit stays
// small enough to inline: tracing that is off costs a nil check.
func (b *Buffer) emit(e Event) {
	if b.mu != nil {
		b.mu.Lock()
		b.push(e)
		b.mu.Unlock()
		return
	}
	b.push(e)
}

// push stamps and appends e.
//
// Preconditions: the caller is the track's producer — its owning goroutine,
// or the holder of b.mu on a shared track.
func (b *Buffer) push(e Event) {
	if b.limit > 0 && b.n >= b.limit {
		b.dropped.Add(1)
		return
	}
	e.Time = b.rec.Now()
	e.Track = b.id
	if b.pos == len(b.cur) {
		b.grow()
	}
	b.cur[b.pos] = e
	b.pos++
	b.n++
	// Release: a reader that loads this count also sees the event.
	b.published.Store(int64(b.n))
}

// grow starts a new chunk and publishes it in dir. Appending may write into
// the spare capacity of the slice older readers hold, but only at an index
// beyond their length, which they never read.
//
// Preconditions: as for push.
func (b *Buffer) grow() {
	size := firstChunk
	if len(b.cur) > 0 {
		size = min(2*len(b.cur), maxChunk)
	}
	b.cur = make([]Event, size)
	b.pos = 0
	dir := append(*b.dir.Load(), b.cur)
	b.dir.Store(&dir)
}

// appendPrefix appends the published events of b to out. Safe to call
// concurrently with Emit.
func (b *Buffer) appendPrefix(out []Event) []Event {
	n := int(b.published.Load())
	dir := *b.dir.Load() // loaded after published, so it covers n events
	for _, c := range dir {
		if n == 0 {
			break
		}
		k := min(n, len(c))
		out = append(out, c[:k]...)
		n -= k
	}
	return out
}

// Enabled reports whether b records anything (b != nil). Call it before
// building an expensive Arg, e.g. with fmt.Sprintf. Safe for concurrent use.
func (b *Buffer) Enabled() bool { return b != nil }

// Name returns the track's name ("" for a nil Buffer). Safe for concurrent
// use.
func (b *Buffer) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// Dropped returns how many events this track has discarded because of the
// recorder's limit (0 for a nil Buffer). Safe for concurrent use.
func (b *Buffer) Dropped() int {
	if b == nil {
		return 0
	}
	return int(b.dropped.Load())
}
