// Package rcu is user-space read-copy-update for goroutines: readers that
// never block and never write shared memory, writers that wait for, or
// defer work until, every reader that might still see old data has moved
// on.
//
// # What RCU is
//
// A writer that wants to change a shared structure does not modify it in
// place. It builds a new version, publishes it with one atomic pointer
// store (rcu_assign_pointer; here atomic.Pointer.Store), and is then left
// with the old version, which readers that loaded the pointer earlier may
// still be using. It waits for a grace period, a span of time after which
// every read-side section that could have loaded the old pointer has
// ended, and only then frees, poisons or reuses the old version. Readers
// bracket their use of the structure with Lock and Unlock, load the pointer
// with an atomic load (rcu_dereference; atomic.Pointer.Load) and may use
// what they loaded until Unlock. They take no lock and never wait, so reads
// scale with the number of processors; the price is paid by writers, who
// wait or defer.
//
// In vmsim the VMA tree is published this way: a page fault looks its VMA
// up inside a read-side section, without the mmap lock, while munmap
// replaces the tree and retires the removed VMAs after a grace period.
//
// # The pieces
//
// A Domain is one RCU universe. Each goroutine that reads registers a
// Reader (Domain.Register), which it owns the way a thread owns its CPU,
// and enters sections with Reader.Lock and Reader.Unlock; sections nest.
// Writers call Domain.Synchronize to wait for a grace period
// (synchronize_rcu), or Domain.Call to have a function run after one on a
// background goroutine (call_rcu). That goroutine is woken once per batch,
// not per Call, and lets a batch collect for up to a millisecond before
// its grace period, so a stream of Calls costs little more than appending
// to a slice. Domain.Barrier waits for queued callbacks (rcu_barrier),
// without the collecting wait, and Domain.Close drains them and stops the
// goroutine.
//
// # How grace periods are detected
//
// The scheme is liburcu's "memb" flavour (urcu-memb), with its phase bit
// widened to an epoch. The Domain keeps a grace-period counter
// holding the current epoch; each Reader has a slot padded to a cache line
// of its own. The outermost Lock copies the counter into the slot; the matching
// Unlock sets the slot to zero. Nested Lock/Unlock pairs only count the
// depth in a plain field of the same slot. The read side therefore writes
// nothing but its own cache line and takes no lock.
//
// A grace period advances the epoch, then scans the registered readers'
// slots and waits for each one that is inside a section carrying an older
// epoch. A reader seen quiescent, or in a section of the new epoch, has
// nothing to wait for and is not looked at again, so readers that keep
// starting new sections cannot starve the writer. The wait spins briefly,
// then yields, then sleeps for at most about 64µs at a time.
//
// liburcu's memb flavour has only a one-bit phase, so it must flip the
// phase twice per grace period and wait after each flip: with a single
// bit, a reader whose snapshot is two flips stale looks current. A 63-bit
// epoch never repeats, so one advance and one wait are enough. This is
// what liburcu's urcu-qsbr does on 64-bit machines. It also yields a
// stronger promise: a section that begins after the grace period has begun
// is never waited for.
//
// The barriers memb needs come from Go's atomics: sync/atomic operations
// are sequentially consistent. The reader's slot store is ordered before
// the section's loads, and the writer's epoch store before its scan. memb
// gets the same effect from a compiler barrier on the read side and
// membarrier(2) on the write side.
//
// # Guarantees, in Go memory-model terms
//
//   - Grace period. If a section's Lock happens before a call to
//     Synchronize, or precedes it in the sequentially consistent order of
//     atomic operations, then the section's matching Unlock happens before
//     Synchronize returns. The second case covers every section that loaded
//     a pointer the writer replaced before calling Synchronize. Everything
//     such a section did therefore happens before Synchronize returns, and
//     the writer may reclaim what it unpublished.
//   - Sections that begin after the grace period has begun are not waited
//     for. They can only load the pointers the writer published.
//   - Call(f): everything before the Call happens before f runs, and f runs
//     after a grace period that began after the Call, so the guarantee above
//     holds with "f runs" in place of "Synchronize returns". Callbacks run
//     one at a time, in Call order. Each grace period covers every callback
//     queued before it began.
//   - Barrier: every callback whose Call happened before Barrier was called
//     has returned, and its effects happen before, when Barrier returns.
//   - Concurrent Synchronize calls share grace periods, but a caller that
//     arrives while a grace period is running waits for the next one.
//
// # Rules
//
// A Reader belongs to one goroutine at a time. Misuse is a programmer
// error, and each of the following panics with a message that names it:
//   - Unlock without a matching Lock;
//   - using a Reader after Unregister;
//   - Unregister inside a section;
//   - Reader.Synchronize or Reader.Barrier inside the Reader's own section,
//     which would deadlock;
//   - Call after Close.
//
// Domain.Synchronize and Domain.Barrier cannot tell which Reader their
// caller owns, so from inside a section they deadlock. Code that owns a
// Reader should call its Reader's versions, which panic instead.
package rcu
