// Package vma holds the virtual memory areas of one simulated address
// space: the VMA type, its reference count and per-VMA lock, and the
// RCU-published, copy-on-write tree of VMAs with the index of the gaps
// between them.
//
// # The story
//
// A fault must find the VMA that covers an address. Linux long did that
// under mmap_sem, so every fault in a process serialized against every
// mmap and munmap. In December 2019 Matthew Wilcox proposed on linux-mm to
// look VMAs up under RCU instead, take a per-VMA reference only on the
// slow path, and let ->map_pages run with no reference at all. Linux 6.4
// took a related road, per-VMA locks, and Linux 6.15 folded that lock into
// a reference count, vm_refcnt. This package provides the pieces all three
// designs stand on, so that package fault can implement each policy with
// them:
//
//   - A VMA never changes once published. mprotect, a split, a merge build
//     new VMA objects; the old ones are detached and freed later.
//   - The Tree is a persistent B+tree of VMAs keyed by start, built
//     like Linux's maple tree in RCU mode: a writer opens a Txn,
//     copies each node on the path of its edits the first time it changes
//     it after a publish (and edits its own copies in place after that),
//     and publishes the new root with one atomic pointer store. A reader's
//     Snapshot is one atomic load and never changes, so a MAP_FIXED
//     replace (Unmap + Insert in one Txn) is seen whole or not at all.
//     Txn.Publish in the middle shows what Linux did before 6.12. The
//     tests check the tree against github.com/google/btree.
//   - Each VMA has a reference count shaped like vm_refcnt: 0 detached,
//     1 attached, 1+n with n users, a writer bit. TryGet is Wilcox's
//     slow-path reference; TryReadLock, ReadUnlock and WriteLock are the
//     6.4+ per-VMA lock (vma_start_read, vma_end_read, vma_start_write).
//     Unlike Linux, a detach does not wait for users: a reference may be
//     held across a sleep, and the last Put runs the VMA's release func.
//   - Freeing is deferred twice: past the last reference (the release
//     func), then past a grace period (the owner's release func uses RCU),
//     after which the owner calls Backing.Close and Poison. A poisoned VMA
//     panics on use, so a use-after-free in a test is loud.
//   - The gap index is an augmented AVL tree of free ranges, private to the
//     writer, that answers Txn.UnmappedArea (vm_unmapped_area) in
//     O(log n), top-down or bottom-up.
//
// # Concurrency
//
// Readers — any number of goroutines — call Tree.Snapshot and the
// Snapshot's lookups at any time. The VMAs they find may be used only
// inside an RCU read-side section (package rcu) or while holding the
// writer lock, or after taking a reference with TryGet or TryReadLock:
// otherwise they may be freed under them. This package does not import
// package rcu; it does not need to know which section a reader is in, only
// that the owner frees VMAs a grace period after their release. When the
// owner turns on Tree.RecycleNodes (package fault does, with its RCU
// domain), the tree's nodes follow the same rule: a Snapshot's lookups
// may then be used only inside a read-side section or under the writer
// lock, since the nodes a publish replaced are reused a grace period
// later.
//
// Writers hold the address space's writer lock (the mmap write lock),
// which this package does not own: Tree.Begin, everything on a Txn,
// Tree.CheckLocked, SetRelease and WriteLock have that precondition. One
// Txn is open at a time.
//
// Lock order, for the owner: the mmap write lock, then (inside Txn calls)
// only the tree's own mutex for reclaimed nodes, which it holds for a few
// instructions and never while calling out. WriteLock waits for readers by
// spinning, yielding and sleeping, never by taking a lock.
//
// # Lifecycle of a VMA
//
//	New / Copy / Slice        unattached, refcount 0, Backing.Open called
//	Txn.Insert                in the writer's tree
//	Publish / Commit          attached (refcount 1), then visible
//	Txn.Remove / Unmap        out of the writer's tree, still attached
//	Detach / Publish / Commit detached: TryGet fails; the release func runs
//	                          at once, or at the last Put
//	(owner) after a grace period: Backing.Close, Poison
package vma
