package vma

import (
	"sync/atomic"

	"github.com/vmsim/vmsim/sched"
)

// Tree is the RCU-published tree of VMAs of one address space (Linux's
// maple tree mm_mt): an ordered set of non-overlapping VMAs keyed by
// Start, plus a writer-private index of the gaps between them.
//
// Concurrency: readers call Snapshot (one atomic load) from any goroutine
// at any time and read the returned immutable Snapshot. The VMAs a
// snapshot holds may be used only while the reader is inside an RCU
// read-side section (or holds the writer lock), because a removed VMA is
// freed a grace period after its last reference drops; with RecycleNodes
// on, the same holds for the snapshot's lookups themselves. Writers must hold
// the address space's writer lock (the mmap write lock) around
// Begin ... Commit/Abort; one Txn is open at a time.
type Tree struct {
	// cur is the published snapshot; atomic (readers load it, the writer
	// stores it).
	cur atomic.Pointer[Snapshot]
	// master is the tree as of the last Commit, the state an Abort
	// returns to; protected by the writer lock.
	master view
	// w decides which nodes the writer may change in place; protected
	// by the writer lock.
	w writer
	// gaps indexes the free ranges of master (of the open Txn, while
	// one is open); protected by the writer lock.
	gaps gapTree
	// version counts publishes; protected by the writer lock.
	version uint64
	// spare is the last finished Txn, for Begin to reuse; protected by
	// the writer lock.
	spare *Txn
	// txn is the open transaction, or nil; protected by the writer lock.
	txn *Txn
	// s controls the tree's points (publish, detach) and those of its
	// VMAs in a controlled run; nil when free-running. Immutable after
	// Bind.
	s *sched.Sched

	// What an empty tree starts with, kept in the Tree so that making
	// one takes one allocation (a gap-index node aside): the first root,
	// the first snapshot and the first Txn. Each is used as any other
	// of its kind once the tree is running.
	root0 node
	snap0 Snapshot
	txn0  Txn
}

// NewTree returns an empty tree, with an empty snapshot published
// (Version 0) and the whole space [0, AddrLimit) free.
func NewTree() *Tree {
	t := new(Tree)
	t.Init()
	return t
}

// Init makes t, a zero Tree (one embedded in another struct, say), an
// empty tree as NewTree returns it.
//
// Preconditions: t is a zero Tree and nothing else uses it yet.
func (t *Tree) Init() {
	t.root0.leaf = true
	t.master = view{root: &t.root0}
	t.gaps.init()
	t.spare = &t.txn0
	t.w.seal()
	t.snap0 = Snapshot{view: t.master}
	t.cur.Store(&t.snap0)
}

// Bind puts t, and every VMA inserted into it from now on, under the
// control of s (see package sched): publishing, detaching and the steps of
// the VMAs' locks become scheduling points, and WriteLock's wait for
// readers a wait s knows about. A nil s leaves t free-running.
//
// Preconditions: the caller holds the writer lock and t is empty.
func (t *Tree) Bind(s *sched.Sched) { t.s = s }

// A Reclaimer runs functions once every reader that could still see what
// they free has finished: an RCU domain (rcu.Domain's Call).
type Reclaimer interface {
	Call(f func())
}

// RecycleNodes makes the tree reuse the nodes that a publish takes out of
// the published tree, instead of leaving them to the garbage collector:
// Linux's maple tree frees its replaced nodes with call_rcu the same way
// (ma_free_rcu). reclaim must run the function it is given only once every
// reader that may hold an older Snapshot has finished: an *rcu.Domain,
// with every reader looking up inside an RCU read-side section or holding
// the writer lock. From then on a Snapshot may be used only there, as its
// VMAs already must; its Version and Len stay valid forever.
//
// Preconditions: the caller holds the writer lock and no Txn is open.
func (t *Tree) RecycleNodes(reclaim Reclaimer) {
	if t.txn != nil {
		panic("vma: RecycleNodes while a Txn is open")
	}
	t.w.reclaim = reclaim
}

// Snapshot returns the published state of the tree: one atomic load. Its
// VMAs may be used only while the caller is inside an RCU read-side
// section (or holds the writer lock); after that they may be freed. The
// Snapshot itself never changes; it can be searched at any later time
// unless the tree recycles its nodes (RecycleNodes), in which case the
// same rule as for its VMAs applies to its lookups. Safe for concurrent
// use.
func (t *Tree) Snapshot() *Snapshot { return t.cur.Load() }

// A Snapshot is one published state of a Tree. It is immutable and safe
// for concurrent use; see Tree.Snapshot for how long its VMAs may be used.
type Snapshot struct {
	view
	// version is the publish count when this snapshot was stored;
	// immutable.
	version uint64
}

// Version returns the number of publishes before and including this
// snapshot (0 for a new Tree's); it increments at every publish.
func (s *Snapshot) Version() uint64 { return s.version }

// view holds the read operations shared by Snapshot (a published,
// immutable tree) and Txn (the writer's working tree).
type view struct {
	root *node // never nil; an empty tree is an empty leaf
	n    int   // number of VMAs
}

// find is Find: the VMA with the greatest Start <= addr, if it covers
// addr.
func (s view) find(addr uint64) *VMA {
	if v := s.floor(addr); v != nil && addr < v.End {
		return v
	}
	return nil
}

// floor returns the VMA with the greatest Start <= addr, or nil.
func (s view) floor(addr uint64) *VMA {
	v := s.root.floor(addr)
	if v != nil {
		v.checkLive()
	}
	return v
}

func (s view) findNext(addr uint64) *VMA {
	if v := s.find(addr); v != nil {
		return v
	}
	v := s.root.ceil(addr)
	if v != nil {
		v.checkLive()
	}
	return v
}

func (s view) prev(addr uint64) *VMA {
	if addr == 0 {
		return nil
	}
	return s.floor(addr - 1)
}

func (s view) ascend(start, end uint64, fn func(*VMA) bool) {
	if start >= end {
		return
	}
	if p := s.prev(start); p != nil && p.End > start {
		if !fn(p) {
			return
		}
	}
	s.root.ascend(start, end, func(v *VMA) bool {
		v.checkLive()
		return fn(v)
	})
}

func (s view) vmas() []*VMA {
	return s.root.appendAll(make([]*VMA, 0, s.n))
}

// Find returns the VMA containing addr, or nil (Linux vma_lookup). Safe
// for concurrent use.
func (s *Snapshot) Find(addr uint64) *VMA { return s.find(addr) }

// FindNext returns the first VMA with End > addr — the one containing addr,
// or else the next one above it — or nil (Linux find_vma). Safe for
// concurrent use.
func (s *Snapshot) FindNext(addr uint64) *VMA { return s.findNext(addr) }

// Prev returns the last VMA with Start < addr, or nil. Safe for concurrent
// use.
func (s *Snapshot) Prev(addr uint64) *VMA { return s.prev(addr) }

// Ascend calls fn, in address order, for each VMA overlapping [start, end),
// until fn returns false. Safe for concurrent use.
func (s *Snapshot) Ascend(start, end uint64, fn func(*VMA) bool) { s.ascend(start, end, fn) }

// Len returns the number of VMAs (Linux mm->map_count). Safe for concurrent
// use.
func (s *Snapshot) Len() int { return s.n }

// VMAs returns all VMAs in address order, in a new slice. Safe for
// concurrent use.
func (s *Snapshot) VMAs() []*VMA { return s.vmas() }
