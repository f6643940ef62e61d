// Package pgtable is vmsim's hardware: simulated physical frames and the
// radix page table that maps virtual pages onto them. It knows nothing of
// VMAs or locking policies; the fault and mmap packages build those on
// top.
//
// # Frames
//
// Frames is physical memory: Capacity() frames of 4 KiB, numbered from 1,
// plus frame 0, the shared read-only zero frame (Linux's ZERO_PAGE), which
// reads as zeros forever and panics if anyone writes it. Memory is
// allocated lazily in chunks of 512 frames that never move, so a large
// capacity is cheap until used and an accessor never needs a lock.
//
// Each frame has a reference count. Alloc returns a zeroed frame with
// count 1; the last Put fills the frame with Poison (0x6b bytes, the slab
// allocator's POISON_FREE) and pushes it on a LIFO free list, so the very
// next Alloc hands it out again. That is deliberate: a thread still
// reading through a stale translation sees poison, or somebody else's
// data, at once, instead of the old contents that would hide the bug. A
// load that returns Poison is a use after free.
//
// Frame contents are words accessed only through sync/atomic; byte reads
// and writes go through their containing word, partial-word writes with a
// compare-and-swap loop so that writers of neighbouring bytes never lose
// each other's updates. Simulated threads may therefore race on simulated
// memory as much as they like and `go test -race` stays clean: the races
// vmsim studies are in the simulated machine, never in the Go program.
//
// # Page tables
//
// Table is a 4-level radix tree (9 bits per level over 48-bit addresses,
// as x86-64). Its leaves hold PTEs, each an atomic 64-bit word: a frame
// number and flag bits (see PTE). Every leaf has its own mutex, Linux's
// split PTE lock (pte_lockptr): installing a PTE (LockLeaf, SetLocked,
// Unlock), zapping (Zap), changing protections (Protect) and moving
// entries (Move) take the locks of the leaves they touch, so faults on
// different 2 MiB regions never contend. A Table-wide mutex, Linux's
// mm->page_table_lock, is taken only to link in a new table or unlink an
// empty one.
//
// # Why lock-free walks are safe
//
// Lookup and Range, like the hardware walker and gup-fast, take no lock.
// That is safe because:
//
//   - a new table is fully built (zeroed) before one atomic pointer store
//     publishes it, so a walker sees either no table or a whole one;
//   - every PTE is one atomic word, so a walker sees the old entry or the
//     new one, never half of each;
//   - a table is freed (FreeEmpty) only when it maps nothing, it is
//     unlinked before it is marked dead, and nobody writes a dead table, so
//     a walker that was already inside it reads "not mapped"; Go's
//     garbage collector keeps the table alive while that walker holds it,
//     which is what RCU-deferred freeing of page tables does in Linux.
//
// What a lock-free walk cannot promise is freshness: the entry it returns
// may be zapped the moment after. Callers that act on it (filling a TLB,
// taking a frame reference with TryGet) must revalidate, or rely on the
// TLB shootdown and on frames being freed only after it, which is the
// protocol the mmap package implements.
//
// # Lock order
//
//	Table.mu (page_table_lock)
//	  Leaf.mu (split PTE lock; two of them in ascending address order)
//	    Frames.mu (free list; innermost: nothing is taken under it, so
//	               Alloc and Put may be called with any lock held)
package pgtable
