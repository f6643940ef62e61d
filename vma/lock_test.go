package vma

import (
	"runtime"
	"testing"
)

func attachedVMA(t *testing.T) (*Tree, *VMA) {
	t.Helper()
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	insertCommit(tr, v)
	return tr, v
}

func TestPerVMALockCycle(t *testing.T) {
	_, v := attachedVMA(t)
	// mm_lock_seq of successive write cycles: 2, 4, 6 ...
	if !v.TryReadLock(2) {
		t.Fatal("TryReadLock failed on an unlocked attached VMA")
	}
	v.ReadUnlock()
	v.WriteLock(2)
	if !v.WriteLocked(2) {
		t.Fatal("not WriteLocked after WriteLock")
	}
	if v.TryReadLock(2) {
		t.Fatal("TryReadLock succeeded during the write cycle that locked the VMA")
	}
	if v.Refs() != 0 {
		t.Fatalf("a failed TryReadLock left %d references", v.Refs())
	}
	// mmap_write_unlock bumps the sequence: the mark is gone.
	if v.WriteLocked(4) || !v.TryReadLock(4) {
		t.Fatal("TryReadLock failed after the sequence changed")
	}
	v.ReadUnlock()
}

func TestTryReadLockRefusesDetached(t *testing.T) {
	tr, v := attachedVMA(t)
	tx := tr.Begin()
	tx.Remove(v)
	tx.Detach()
	if v.TryReadLock(2) {
		t.Fatal("TryReadLock succeeded on a detached VMA")
	}
	tx.Commit()
	u := New(0, PageSize, ProtRead, 0, 0, nil)
	if u.TryReadLock(2) {
		t.Fatal("TryReadLock succeeded on a never-attached VMA")
	}
}

// TestWriteLockWaitsForReader is deterministic: the writer cannot finish
// while the reader holds the read lock, and the test only checks that it
// has not finished once the writer bit shows that it is waiting.
func TestWriteLockWaitsForReader(t *testing.T) {
	_, v := attachedVMA(t)
	if !v.TryReadLock(4) {
		t.Fatal("TryReadLock failed")
	}
	done := make(chan struct{})
	go func() {
		v.WriteLock(6)
		close(done)
	}()
	for v.ref.Load()&refWriter == 0 {
		runtime.Gosched()
	}
	// The writer is waiting: new readers fail even for another cycle,
	// because of the writer bit.
	if v.TryReadLock(8) {
		t.Fatal("TryReadLock succeeded while a writer waits")
	}
	select {
	case <-done:
		t.Fatal("WriteLock returned while a reader held the read lock")
	default:
	}
	v.ReadUnlock()
	<-done
	if !v.WriteLocked(6) || v.ref.Load() != 1 {
		t.Fatalf("after WriteLock: locked=%v ref=%#x, want locked with only the attach reference", v.WriteLocked(6), v.ref.Load())
	}
}

func TestWriteLockWaitsForTryGetReference(t *testing.T) {
	_, v := attachedVMA(t)
	if !v.TryGet() {
		t.Fatal("TryGet failed")
	}
	done := make(chan struct{})
	go func() {
		v.WriteLock(2)
		close(done)
	}()
	for v.ref.Load()&refWriter == 0 {
		runtime.Gosched()
	}
	select {
	case <-done:
		t.Fatal("WriteLock ignored a TryGet reference")
	default:
	}
	v.Put()
	<-done
}

func TestWriteLockIdempotentAndDetachedNoWait(t *testing.T) {
	tr, v := attachedVMA(t)
	v.WriteLock(2)
	if !v.TryGet() {
		t.Fatal("TryGet failed")
	}
	v.WriteLock(2) // already locked in this cycle: must not wait for the reference
	v.Put()

	if !v.TryGet() {
		t.Fatal("TryGet failed")
	}
	tx := tr.Begin()
	tx.Remove(v)
	tx.Commit()
	v.WriteLock(4) // detached: nothing to wait for, even with a user
	if !v.WriteLocked(4) {
		t.Fatal("WriteLock on a detached VMA did not mark it")
	}
	v.Put()

	u := New(0, PageSize, ProtRead, 0, 0, nil)
	u.WriteLock(4) // a new VMA is write-locked before it is inserted, as Linux does
	insertCommit(tr, u)
	if u.TryReadLock(4) {
		t.Fatal("a VMA inserted write-locked was read-locked in the same cycle")
	}
	if !u.TryReadLock(6) {
		t.Fatal("TryReadLock failed in the next cycle")
	}
	u.ReadUnlock()
}
