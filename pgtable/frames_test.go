package pgtable

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// mustPanic runs f and fails unless it panics with a message containing
// want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Fatalf("panic %q; want one mentioning %q", msg, want)
		}
	}()
	f()
}

func mustAlloc(t testing.TB, f *Frames) PFN {
	t.Helper()
	p, err := f.Alloc()
	if err != nil {
		t.Fatalf("Alloc: %v", err)
	}
	return p
}

func isZeroed(f *Frames, p PFN) bool {
	for w := range WordsPerPage {
		if f.Load(p, w) != 0 {
			return false
		}
	}
	return true
}

func TestAllocReturnsZeroedFrameWithOneReference(t *testing.T) {
	f := NewFrames(4)
	p := mustAlloc(t, f)
	if p == ZeroPFN {
		t.Fatal("Alloc returned the zero frame")
	}
	if got := f.Refcount(p); got != 1 {
		t.Errorf("Refcount = %d, want 1", got)
	}
	if !isZeroed(f, p) {
		t.Error("fresh frame is not zeroed")
	}
	if got := f.InUse(); got != 1 {
		t.Errorf("InUse = %d, want 1", got)
	}
}

func TestPutPoisonsAndNextAllocReusesLIFO(t *testing.T) {
	f := NewFrames(8)
	a, b, c := mustAlloc(t, f), mustAlloc(t, f), mustAlloc(t, f)
	f.Store(b, 7, 42)
	f.Put(b)
	if !f.IsPoisoned(b) {
		t.Fatal("freed frame not poisoned")
	}
	if got := f.Load(b, 7); got != Poison {
		t.Fatalf("stale load after free = %#x, want Poison", got)
	}
	if f.Refcount(b) != 0 {
		t.Fatalf("freed frame refcount = %d", f.Refcount(b))
	}
	f.Put(c)
	f.Put(a)
	// LIFO: a, then c, then b.
	for _, want := range []PFN{a, c, b} {
		got := mustAlloc(t, f)
		if got != want {
			t.Fatalf("Alloc = %d, want most recently freed %d", got, want)
		}
		if !isZeroed(f, got) {
			t.Fatalf("reused frame %d not zeroed", got)
		}
	}
	if f.InUse() != 3 {
		t.Fatalf("InUse = %d, want 3", f.InUse())
	}
}

func TestExhaustionThenRecovery(t *testing.T) {
	const n = 5
	f := NewFrames(n)
	if f.Capacity() != n {
		t.Fatalf("Capacity = %d, want %d", f.Capacity(), n)
	}
	seen := map[PFN]bool{}
	for range n {
		p := mustAlloc(t, f)
		if seen[p] {
			t.Fatalf("frame %d handed out twice", p)
		}
		seen[p] = true
	}
	if _, err := f.Alloc(); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Alloc on full memory: err = %v, want ErrNoMemory", err)
	}
	if f.InUse() != n {
		t.Fatalf("InUse = %d, want %d", f.InUse(), n)
	}
	f.Put(3)
	p, err := f.Alloc()
	if err != nil || p != 3 {
		t.Fatalf("Alloc after Put = %d, %v; want 3, nil", p, err)
	}
}

func TestNewFramesDefaultIsLazy(t *testing.T) {
	f := NewFrames(0)
	if f.Capacity() != DefaultFrames {
		t.Fatalf("Capacity = %d, want %d", f.Capacity(), DefaultFrames)
	}
	if f.chunks.Load() != nil {
		t.Fatal("the chunk index was made up front; only the zero frame's chunk should exist")
	}
	// The first frame beyond chunk 0 makes the index, and only its own
	// chunk.
	for range chunkFrames {
		mustAlloc(t, f)
	}
	allocated := 0
	for i := range *f.chunks.Load() {
		if (*f.chunks.Load())[i].Load() != nil {
			allocated++
		}
	}
	if allocated != 1 {
		t.Fatalf("%d chunks beyond the zero frame's allocated, want 1", allocated)
	}
}

func TestFramesAcrossChunkBoundary(t *testing.T) {
	const n = chunkFrames + 40 // the last chunk is short
	f := NewFrames(n)
	for range n {
		p := mustAlloc(t, f)
		f.Store(p, WordsPerPage-1, uint64(p)*3)
	}
	for p := PFN(1); p <= n; p++ {
		if got := f.Load(p, WordsPerPage-1); got != uint64(p)*3 {
			t.Fatalf("frame %d word = %d, want %d", p, got, uint64(p)*3)
		}
	}
	if got := len(*f.chunks.Load()); got != 2 {
		t.Fatalf("%d frames take %d chunks, want 2", n, got)
	}
	if _, err := f.Alloc(); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("err = %v, want ErrNoMemory", err)
	}
}

func TestRefcountGetPut(t *testing.T) {
	f := NewFrames(4)
	p := mustAlloc(t, f)
	f.Get(p)
	f.Get(p)
	if f.Refcount(p) != 3 {
		t.Fatalf("Refcount = %d, want 3", f.Refcount(p))
	}
	f.Store(p, 0, 99)
	f.Put(p)
	f.Put(p)
	if f.IsPoisoned(p) || f.Load(p, 0) != 99 {
		t.Fatal("frame freed while a reference remains")
	}
	f.Put(p)
	if !f.IsPoisoned(p) || f.InUse() != 0 {
		t.Fatalf("last Put: poisoned=%v InUse=%d", f.IsPoisoned(p), f.InUse())
	}
}

func TestTryGet(t *testing.T) {
	f := NewFrames(4)
	p := mustAlloc(t, f)
	if !f.TryGet(p) || f.Refcount(p) != 2 {
		t.Fatalf("TryGet on live frame failed, refcount %d", f.Refcount(p))
	}
	f.Put(p)
	f.Put(p)
	if f.TryGet(p) {
		t.Fatal("TryGet succeeded on a free frame")
	}
	if f.Refcount(p) != 0 {
		t.Fatalf("failed TryGet changed refcount to %d", f.Refcount(p))
	}
	if !f.TryGet(ZeroPFN) {
		t.Fatal("TryGet(ZeroPFN) = false")
	}
}

func TestZeroFrame(t *testing.T) {
	f := NewFrames(2)
	for range 3 {
		f.Get(ZeroPFN)
		f.Put(ZeroPFN)
		f.Put(ZeroPFN)
	}
	if f.Refcount(ZeroPFN) != 1 {
		t.Fatalf("zero frame refcount = %d, want 1 (pinned)", f.Refcount(ZeroPFN))
	}
	if !isZeroed(f, ZeroPFN) || f.IsPoisoned(ZeroPFN) {
		t.Fatal("zero frame is not all zeros")
	}
	p := mustAlloc(t, f)
	f.Store(p, 3, 5)
	f.Copy(p, ZeroPFN)
	if !isZeroed(f, p) {
		t.Fatal("Copy from the zero frame did not zero")
	}
	if f.InUse() != 1 {
		t.Fatalf("InUse = %d, want 1 (zero frame not counted)", f.InUse())
	}
}

func TestFramesProgrammerErrorsPanic(t *testing.T) {
	f := NewFrames(chunkFrames * 2)
	live := mustAlloc(t, f)
	freed := mustAlloc(t, f)
	f.Put(freed)
	tests := []struct {
		name, want string
		do         func()
	}{
		{"Put underflow", "underflow", func() { f.Put(freed) }},
		{"Get free frame", "use after free", func() { f.Get(freed) }},
		{"Store zero frame", "zero frame", func() { f.Store(ZeroPFN, 0, 1) }},
		{"CompareAndSwap zero frame", "zero frame", func() { f.CompareAndSwap(ZeroPFN, 0, 0, 1) }},
		{"WriteAt zero frame", "zero frame", func() { f.WriteAt(ZeroPFN, []byte{1}, 0) }},
		{"Copy into zero frame", "zero frame", func() { f.Copy(ZeroPFN, live) }},
		{"ReadAt past end", "outside", func() { f.ReadAt(live, make([]byte, 2), PageSize-1) }},
		{"WriteAt negative", "outside", func() { f.WriteAt(live, []byte{1}, -1) }},
		{"ReadAt too long", "outside", func() { f.ReadAt(live, make([]byte, PageSize+1), 0) }},
		{"Load never allocated", "never allocated", func() { f.Load(chunkFrames+5, 0) }},
		{"Put never allocated", "never allocated", func() { f.Put(chunkFrames + 5) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustPanic(t, tc.want, tc.do) })
	}
	if f.Refcount(live) != 1 || f.Refcount(freed) != 0 {
		t.Fatalf("a panicking call changed refcounts: live=%d freed=%d", f.Refcount(live), f.Refcount(freed))
	}
}

func TestConcurrentAllocPutNeverSharesAFrame(t *testing.T) {
	const workers, rounds, hold = 4, 400, 8
	f := NewFrames(workers * hold)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			sig := uint64(w+1) << 32
			var mine []PFN
			for r := range rounds {
				p, err := f.Alloc()
				if err != nil {
					errs <- err
					return
				}
				if v := f.Load(p, 1); v != 0 {
					errs <- fmt.Errorf("allocated frame %d not zero: %#x", p, v)
					return
				}
				f.Store(p, 1, sig|uint64(r))
				mine = append(mine, p)
				if len(mine) == hold {
					for _, q := range mine {
						if v := f.Load(q, 1); v>>32 != sig>>32 {
							errs <- fmt.Errorf("frame %d owned by worker %d holds %#x", q, w, v)
							return
						}
						f.Put(q)
					}
					mine = mine[:0]
				}
			}
			for _, q := range mine {
				f.Put(q)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f.InUse() != 0 {
		t.Fatalf("InUse = %d after every frame was put", f.InUse())
	}
}

// TestAllocCopyAndAnon: AllocCopy gives a new frame (the freed one first)
// holding the source's words, with its anon tag cleared, under recycled
// and fresh storage alike.
func TestAllocCopyAndAnon(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		f := NewFramesWith(4, FrameOptions{FreshStorage: fresh})
		src, err := f.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		f.Slot(src).Store(3, 0xabc)
		old, _ := f.Alloc()
		f.SetAnon(old, 7)
		f.Put(old)
		dst, err := f.AllocCopy(src)
		if err != nil || dst != old {
			t.Fatalf("AllocCopy = %d, %v; want the freed frame %d", dst, err, old)
		}
		if got := f.Slot(dst).Load(3); got != 0xabc || f.Slot(dst).Load(0) != 0 {
			t.Errorf("fresh=%v: copied word 3 = %#x, word 0 = %#x", fresh, got, f.Slot(dst).Load(0))
		}
		if f.Anon(dst) != 0 || f.Anon(ZeroPFN) != 0 {
			t.Errorf("fresh=%v: anon tag %d survived the free", fresh, f.Anon(dst))
		}
		f.SetAnon(dst, 9)
		if f.Anon(dst) != 9 {
			t.Errorf("Anon = %d, want 9", f.Anon(dst))
		}
	}
}
