package vma

import "fmt"

// A Txn is one writer's transaction on a Tree: a private copy-on-write
// clone of the tree that it edits and then publishes with one atomic
// pointer store, so that readers see either the whole change or none of
// it (a MAP_FIXED replace never shows a gap).
//
// Concurrency: a Txn is writer-private and not safe for concurrent use.
// Every method has the precondition that the caller holds the writer lock
// that Begin was called under.
//
// The lifecycle of the VMAs it touches: Insert takes an unattached VMA;
// Publish (and Commit) attach it before the store that makes it visible.
// Remove takes a VMA out of the working tree; Detach, Publish or Commit
// detach it before any store that hides it — so a reader still using an
// older snapshot finds it detached, and a writer can detach before it
// zaps the page tables.
type Txn struct {
	view // the working tree; protected by the writer lock
	t    *Tree

	txnBufs

	published     bool // a Publish happened: Abort is illegal
	didDetach     bool // a detach happened: Abort is illegal
	pendingDetach bool // a detach happened since the last publish: the snapshot shows detached VMAs
	done          bool // Commit or Abort happened
}

// txnBufs are a Txn's lists. A finished Txn is reused by the next Begin,
// lists included, so that syscalls do not allocate them again and again.
type txnBufs struct {
	inserted []*VMA // inserted, to attach at the next publish (skip if no longer stateInserted)
	removed  []*VMA // removed, to detach at the next Detach/publish (skip if no longer stateRemoved)
	detached []*VMA // every VMA this Txn detached, for Commit
	hit      []*VMA // Unmap's scratch list
}

// reset empties the lists, dropping the pointers they held.
func (b txnBufs) reset() txnBufs {
	for _, l := range []*[]*VMA{&b.inserted, &b.removed, &b.detached, &b.hit} {
		clear(*l)
		*l = (*l)[:0]
	}
	return b
}

// Begin opens a transaction on t. It starts from the tree as last
// committed, and its edits copy the nodes they change, so the published
// tree is never mutated.
//
// Begin reuses the Txn of the last finished transaction: a Txn must not
// be used after its Commit or Abort (until the next Begin, such use
// panics; after it, it would act on the new transaction).
//
// Preconditions: the caller holds the writer lock, and no other Txn of t is
// open (Begin panics if one is).
func (t *Tree) Begin() *Txn {
	if t.txn != nil {
		panic("vma: Begin while a Txn is open")
	}
	tx := t.spare
	if tx == nil {
		tx = new(Txn)
	}
	t.spare = nil
	*tx = Txn{view: t.master, t: t, txnBufs: tx.txnBufs.reset()}
	t.gaps.beginLog()
	t.txn = tx
	return tx
}

func (tx *Txn) checkOpen() {
	if tx.done {
		panic("vma: use of a finished Txn")
	}
}

// Find returns the VMA containing addr in the Txn's current state, or nil.
func (tx *Txn) Find(addr uint64) *VMA { tx.checkOpen(); return tx.find(addr) }

// FindNext returns the first VMA with End > addr in the Txn's current
// state, or nil (Linux find_vma).
func (tx *Txn) FindNext(addr uint64) *VMA { tx.checkOpen(); return tx.findNext(addr) }

// Prev returns the last VMA with Start < addr in the Txn's current state,
// or nil.
func (tx *Txn) Prev(addr uint64) *VMA { tx.checkOpen(); return tx.prev(addr) }

// Ascend calls fn, in address order, for each VMA of the Txn's current
// state overlapping [start, end), until fn returns false. fn must not
// change the Txn.
func (tx *Txn) Ascend(start, end uint64, fn func(*VMA) bool) {
	tx.checkOpen()
	tx.ascend(start, end, fn)
}

// Len returns the number of VMAs in the Txn's current state.
func (tx *Txn) Len() int { tx.checkOpen(); return tx.n }

// VMAs returns all VMAs of the Txn's current state in address order.
func (tx *Txn) VMAs() []*VMA { tx.checkOpen(); return tx.vmas() }

// Insert adds v to the Txn's state; it becomes visible to readers (and
// attached) at the next Publish or Commit. It panics — a caller bug — if
// v is poisoned, was ever inserted before (except by an aborted Txn), or
// if [v.Start, v.End) is not free in the Txn.
func (tx *Txn) Insert(v *VMA) {
	tx.checkOpen()
	v.checkLive()
	if v.state != stateNew || v.ref.Load() != 0 {
		panic(fmt.Sprintf("vma: Insert of %v, which is or was in a tree", v))
	}
	checkRange(v.Start, v.End)
	if !tx.t.gaps.occupy(v.Start, v.End) {
		panic(fmt.Sprintf("vma: Insert of %v over a mapped range", v))
	}
	tx.root = tx.t.w.insertRoot(tx.root, v.Start, v)
	tx.n++
	v.state = stateInserted
	v.sched = tx.t.s
	tx.inserted = append(tx.inserted, v)
}

// Remove takes v out of the Txn's state. It stays attached, and readers
// of the published snapshot keep finding it, until the next Detach,
// Publish or Commit. It panics if v is not in the Txn's state.
func (tx *Txn) Remove(v *VMA) {
	tx.checkOpen()
	v.checkLive()
	root, got := tx.t.w.removeRoot(tx.root, v.Start, v)
	if got == nil {
		panic(fmt.Sprintf("vma: Remove of %v, which is not in the Txn", v))
	}
	tx.root = root
	tx.n--
	tx.t.gaps.free(v.Start, v.End)
	v.state = stateRemoved
	tx.removed = append(tx.removed, v)
}

// Unmap removes every VMA overlapping [start, end) (Linux
// do_vmi_align_munmap, minus the page tables): a VMA straddling an edge is
// replaced by new VMAs for its parts outside the range, built with Slice
// (which calls Backing.Open and inherits the release func) and inserted.
// It returns the removed original VMAs in address order, in a slice that
// is valid until the next Unmap or the end of the Txn. start and end
// must be page-aligned with end <= AddrLimit (it panics otherwise); an
// empty range removes nothing.
func (tx *Txn) Unmap(start, end uint64) []*VMA {
	tx.checkOpen()
	if start >= end {
		return nil
	}
	checkRange(start, end)
	hit := tx.hit[:0]
	tx.ascend(start, end, func(v *VMA) bool {
		hit = append(hit, v)
		return true
	})
	tx.hit = hit
	for _, v := range hit {
		tx.Remove(v)
		if v.Start < start {
			tx.Insert(v.Slice(v.Start, start))
		}
		if v.End > end {
			tx.Insert(v.Slice(end, v.End))
		}
	}
	return hit
}

// Detach detaches, now and without publishing, every VMA removed so far
// in this Txn and not yet detached, and returns them. Readers of the
// published snapshot still find them but TryGet and TryReadLock on them
// fail, and Attached reports false, so a fault that rechecks under the
// page-table lock installs nothing; a writer detaches before it zaps the
// page tables. A detached VMA whose count reaches 0 runs its release func
// (here, if no user holds a reference). After Detach, Abort is illegal.
// The returned slice is valid until the next Begin.
func (tx *Txn) Detach() []*VMA {
	tx.checkOpen()
	start := len(tx.detached)
	for _, v := range tx.removed {
		if v.state == stateRemoved {
			tx.t.s.Point("vma.detach")
			v.detach()
			tx.detached = append(tx.detached, v)
		}
	}
	tx.removed = tx.removed[:0]
	if len(tx.detached) > start {
		tx.didDetach, tx.pendingDetach = true, true
	}
	return tx.detached[start:len(tx.detached):len(tx.detached)]
}

// Publish makes the Txn's current state the published snapshot with one
// atomic pointer store, and keeps the Txn open: it detaches the removed
// VMAs, attaches the inserted ones (nobody can see them before the store,
// so a reader never finds an unattached VMA in a snapshot), and stores.
// Calling Publish between the two halves of a replace shows the
// non-atomic MAP_FIXED of Linux before 6.12. After Publish, Abort is
// illegal.
func (tx *Txn) Publish() {
	tx.checkOpen()
	tx.Detach()
	for _, v := range tx.inserted {
		if v.state == stateInserted {
			v.attach()
		}
	}
	tx.inserted = tx.inserted[:0]
	t := tx.t
	t.version++
	t.s.Point("tree.publish")
	t.cur.Store(&Snapshot{view: tx.view, version: t.version})
	// Sealing makes every node of the published tree immutable: the
	// Txn's next edits copy the nodes they touch. It also hands the
	// nodes this publish replaced to reclaim, which must come after the
	// store: a grace period begun before it would not wait for readers
	// that still load the old snapshot.
	t.w.seal()
	tx.pendingDetach = false
	t.gaps.endLog()
	tx.published = true
}

// Commit publishes the Txn's state (as Publish) and ends the Txn. It
// returns every VMA this Txn removed, all now detached, in the order they
// were removed. Their attach reference was dropped at the detach; each
// runs its release func when its last user Puts (or ran it at the detach,
// if it had none). The caller zaps their page tables. The returned slice
// is valid until the next Begin.
func (tx *Txn) Commit() (detached []*VMA) {
	tx.Publish()
	tx.t.master = tx.view
	tx.t.spare = tx
	tx.t.txn = nil
	tx.done = true
	return tx.detached
}

// Abort discards the Txn's unpublished changes and ends it: the published
// snapshot, the tree and its gap index are as they were at Begin, VMAs it
// removed are back, and VMAs it inserted are unattached again, owned by
// the caller (who may Discard them or insert them in a later Txn). It
// panics if this Txn has detached or published anything, since readers may
// have seen that.
func (tx *Txn) Abort() {
	tx.checkOpen()
	if tx.published || tx.didDetach {
		panic("vma: Abort of a Txn that has detached or published")
	}
	for _, v := range tx.removed {
		if v.ref.Load() != 0 {
			v.state = stateAttached // it was attached before this Txn
		} else {
			v.state = stateNew // this Txn inserted it
		}
	}
	for _, v := range tx.inserted {
		v.state = stateNew
	}
	tx.t.gaps.rollback()
	tx.t.w.forget()
	tx.t.spare = tx
	tx.t.txn = nil
	tx.done = true
	tx.view = view{}
}
