// Package trace records what the simulator does, event by event, and draws
// it as a timeline, so that a person can see who looked up which VMA, who
// took the fast path, who retried, when the TLB shootdown ran, and which
// value each load returned while a third thread was inside munmap.
//
// # Recording
//
// A Recorder owns tracks. Each simulated thread gets its own track from
// Recorder.Track and emits on it from its own goroutine; that path takes no
// lock and allocates only when a chunk of storage fills (chunks double up to
// 4096 events, so allocation is amortised far below one per event). Tracks
// written by several goroutines — typically the syscall track, written by
// whichever goroutine calls Mmap — come from Recorder.SharedTrack, whose
// Emit takes a small per-track mutex.
//
// Tracing that is off costs a nil check: a nil *Buffer is a valid track whose
// Emit is an inlined no-op. Code that builds an expensive Arg (fmt.Sprintf)
// guards it with Buffer.Enabled.
//
// Every event is stamped with the nanoseconds since the Recorder was created
// (monotonic clock) and with its track. NewRecorderWithClock substitutes a
// fake clock, for reproducible output in tests and examples.
// NewRecorderLimit bounds memory: each track keeps its first N events and
// counts the rest in Dropped.
//
// Recorder.Events merges all tracks in time order. It may run concurrently
// with recording — each track publishes its length atomically after writing
// an event, so a reader copies a consistent prefix without a data race — but
// the usual use is after the simulated threads have stopped.
//
// # Writing
//
// Three writers read a Recorder:
//
//   - WriteText: a column per track, time downwards, one line per event,
//     for terminals, test logs and examples.
//   - WriteChromeJSON: the Trace Event Format. Open https://ui.perfetto.dev
//     and drag the file in (chrome://tracing also reads it): one row per
//     track, syscalls, faults, shootdowns and grace periods as slices,
//     everything else as instants whose args hold addresses and values.
//   - WriteSVG: a self-contained picture for a web page or a bug report:
//     lanes, slices as rects, instants as dots, loads and stores coloured by
//     value so that a thread reading stale contents stands out.
//
// Slices must nest on a track, which recordings do not always guarantee (a
// shared syscall track can interleave two calls; a bounded recorder can drop
// an End). The writers repair the sequence — split, close at the end, or
// show an orphan End as an instant — and say so in the output.
//
// # Concurrency
//
// Recorder methods are safe for concurrent use. A Track buffer admits one
// emitting goroutine at a time, a SharedTrack buffer any number. Writers may
// run at any time. Locks: Recorder.mu (track creation) and a shared track's
// mutex are never held together, and no lock is held while a writer's
// io.Writer runs. A shared track reads the clock under its mutex, so a fake
// clock must not emit.
//
// trace imports no other vmsim package: the simulator depends on it, never
// the reverse.
package trace
