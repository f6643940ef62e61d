package fault

import (
	"testing"

	"github.com/vmsim/vmsim/pgtable"
)

// TestPageCacheTryGetRecheck replays, step by step, the race that
// tryGet's recheck exists for: a lock-free lookup reads a frame from the
// cache; before it takes its reference the page is dropped, its frame
// freed and reallocated (LIFO: the very next allocation) to someone
// else. The late TryGet succeeds on the new owner's frame; the recheck
// must notice and give the reference back.
func TestPageCacheTryGetRecheck(t *testing.T) {
	const idx = 5
	in := newInode("/aba", 0)
	in.size.Store(16 * ps)
	frames := pgtable.NewFrames(8)
	pc := in.bind(frames)

	p, err := frames.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	pc.pages.StoreLocked(idx, p)
	in.mu.Unlock()

	loaded := pc.pages.Load(idx) // the lookup reads the slot ...
	if loaded != p {
		t.Fatalf("Load = %d, want %d", loaded, p)
	}
	in.mu.Lock() // ... a truncation drops the page ...
	pc.pages.StoreLocked(idx, 0)
	in.mu.Unlock()
	frames.Put(p)
	q, err := frames.Alloc() // ... and its frame goes to someone else.
	if err != nil || q != p {
		t.Fatalf("Alloc = %d, %v; want frame %d reused", q, err, p)
	}
	if pc.tryGetLoaded(idx, loaded) {
		t.Fatal("tryGetLoaded took a frame that no longer caches the page")
	}
	if r := frames.Refcount(q); r != 1 {
		t.Fatalf("new owner's frame has refcount %d, want 1 (the failed lookup must not keep a reference)", r)
	}

	// The page is cached again, in the same frame: then the lookup is
	// right to take it.
	in.mu.Lock()
	pc.pages.StoreLocked(idx, q)
	in.mu.Unlock()
	if got, ok := pc.tryGet(idx); !ok || got != q || frames.Refcount(q) != 2 {
		t.Fatalf("tryGet = %d, %v with refcount %d; want %d, true, 2", got, ok, frames.Refcount(q), q)
	}
	if _, ok := pc.tryGet(idx + 1); ok {
		t.Fatal("tryGet found a page that was never cached")
	}
}
