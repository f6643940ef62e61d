package vma

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestAttachDetachReleaseWithoutUsers(t *testing.T) {
	rc := newReleaseCounter()
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	v.SetRelease(rc.release)
	insertCommit(tr, v)
	if !v.Attached() || v.Refs() != 0 {
		t.Fatalf("after commit: attached=%v refs=%d", v.Attached(), v.Refs())
	}
	tx := tr.Begin()
	tx.Remove(v)
	if !v.Attached() {
		t.Fatal("Remove detached before Detach/Publish: readers of the old snapshot must still see it attached")
	}
	d := tx.Detach()
	if len(d) != 1 || d[0] != v || v.Attached() {
		t.Fatalf("Detach returned %v, attached=%v", d, v.Attached())
	}
	if rc.count(v) != 1 {
		t.Fatalf("release ran %d times at a detach with no users, want 1", rc.count(v))
	}
	if got := tx.Commit(); len(got) != 1 || got[0] != v {
		t.Fatalf("Commit returned %v, want [v]", got)
	}
	if rc.count(v) != 1 {
		t.Fatal("Commit re-ran the release func")
	}
	if v.TryGet() {
		t.Fatal("TryGet succeeded after detach")
	}
}

func TestReleaseWaitsForLastPut(t *testing.T) {
	rc := newReleaseCounter()
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	v.SetRelease(rc.release)
	insertCommit(tr, v)
	for range 2 {
		if !v.TryGet() {
			t.Fatal("TryGet failed on an attached VMA")
		}
	}
	if v.Refs() != 2 {
		t.Fatalf("Refs = %d, want 2", v.Refs())
	}
	tx := tr.Begin()
	tx.Remove(v)
	tx.Commit()
	if v.Attached() {
		t.Fatal("still attached after Commit")
	}
	if v.TryGet() {
		t.Fatal("TryGet succeeded on a detached VMA that still has users")
	}
	if v.Refs() != 2 || rc.count(v) != 0 {
		t.Fatalf("after detach: refs=%d released=%d, want 2 users and no release", v.Refs(), rc.count(v))
	}
	v.Put()
	if rc.count(v) != 0 {
		t.Fatal("released while a user still holds a reference")
	}
	v.Put()
	if rc.count(v) != 1 || v.Refs() != 0 {
		t.Fatalf("after the last Put: released %d times, refs %d", rc.count(v), v.Refs())
	}
	mustPanic(t, "Put without a reference", v.Put)
}

func TestPutOfAttachReferencePanics(t *testing.T) {
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	insertCommit(tr, v)
	mustPanic(t, "attach reference", v.Put)
}

// TestConcurrentGetPutDetach races users against a detach: the release
// func runs exactly once, after every successful TryGet has been matched by
// its Put, and no TryGet succeeds once a goroutine has seen the VMA
// detached.
func TestConcurrentGetPutDetach(t *testing.T) {
	for round := 0; round < 50; round++ {
		tr := NewTree()
		var released atomic.Int32
		var users atomic.Int32 // references held right now
		v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
		v.SetRelease(func(*VMA) {
			if users.Load() != 0 {
				t.Error("release ran while a user held a reference")
			}
			released.Add(1)
		})
		insertCommit(tr, v)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < 200; i++ {
					if !v.Attached() {
						if v.TryGet() {
							t.Error("TryGet succeeded after Attached reported false")
						}
						return
					}
					if v.TryGet() {
						users.Add(1)
						users.Add(-1)
						v.Put()
					}
				}
			}()
		}
		close(start)
		tx := tr.Begin()
		tx.Remove(v)
		tx.Commit()
		wg.Wait()
		if released.Load() != 1 {
			t.Fatalf("round %d: release ran %d times, want 1", round, released.Load())
		}
	}
}

func TestSetReleaseAfterInsertPanics(t *testing.T) {
	tr := NewTree()
	v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
	insertCommit(tr, v)
	mustPanic(t, "SetRelease on inserted", func() { v.SetRelease(func(*VMA) {}) })
}
