package mmap

import (
	"runtime"
	"testing"
)

// testThread returns a thread of a fresh address space with a TLB of 64
// entries holding translations of pages 0..n-1 (to the zero frame), as if it had
// accessed them, and no flush pending.
func testThread(t *testing.T, n int) *Thread {
	t.Helper()
	as, err := New(Config{TLBEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = as.Close() })
	th := as.NewThread()
	t.Cleanup(th.Close)
	for vpn := range uint64(n) {
		th.tlb.fill(vpn, as.frames.Slot(0), 0, false)
	}
	return th
}

// cached reports whether th's TLB translates page vpn.
func cached(th *Thread, vpn uint64) bool { return th.tlb.lookup(vpn) != nil }

// waiting reports whether wait(gen) would still wait for th.
func waiting(th *Thread, gen uint64) bool {
	return th.sd.active.Load() != 0 && th.sd.acked.Load() < gen
}

// TestShootdownFullFlushShortcut walks the shootdown protocol through the
// full-flush shortcut of shootdownState.queue: ranges queued while a
// whole flush is pending are not recorded, the thread's next access
// empties its whole TLB (covering them) and acks, and a shooter that took
// the shortcut still waits for an access in flight.
func TestShootdownFullFlushShortcut(t *testing.T) {
	const pg = PageSize
	th := testThread(t, 20)
	sd := &th.sd

	// Nine ranges for an idle thread: the ninth turns the queue into a
	// whole flush.
	var gen uint64
	for vpn := range uint64(9) {
		g := sd.queue(vpn*pg, (vpn+1)*pg)
		if g <= gen {
			t.Fatalf("queue returned gen %d after %d: every queue must publish a new gen", g, gen)
		}
		gen = g
		if waiting(th, gen) {
			t.Fatalf("an idle thread is waited for")
		}
	}
	if !sd.full.Load() || len(sd.pending) != 0 {
		t.Fatalf("after 9 ranges: full %v, %d pending; want a whole flush and nothing pending", sd.full.Load(), len(sd.pending))
	}

	// The shortcut: page 15 is queued while the whole flush is pending.
	g := sd.queue(15*pg, 16*pg)
	if g <= gen {
		t.Fatalf("the shortcut returned gen %d after %d: it must still publish a new gen", g, gen)
	}
	gen = g
	if len(sd.pending) != 0 {
		t.Fatalf("the shortcut recorded its range: %v", sd.pending)
	}
	if !cached(th, 15) || !cached(th, 19) {
		t.Fatalf("the TLB changed before the thread's next access")
	}

	// The thread's next access empties its whole TLB, page 15 included,
	// clears full and acks the newest gen.
	th.begin()
	for vpn := range uint64(20) {
		if cached(th, vpn) {
			t.Fatalf("page %d still cached after the whole flush", vpn)
		}
	}
	if sd.full.Load() || sd.acked.Load() != gen || waiting(th, gen) {
		t.Fatalf("after the flush: full %v, acked %d (want %d)", sd.full.Load(), sd.acked.Load(), gen)
	}

	// An access in flight (it began, and cached page 3, before the zap)
	// while a whole flush is pending: a shooter that takes the shortcut
	// waits for it, and the thread's next access flushes page 3.
	th.tlb.fill(3, th.as.frames.Slot(0), 0, false)
	for vpn := range uint64(9) {
		sd.queue(vpn*pg+32*pg, (vpn+1)*pg+32*pg) // other ranges: full again
	}
	if !sd.full.Load() {
		t.Fatal("no whole flush pending")
	}
	g = sd.queue(3*pg, 4*pg)
	if !waiting(th, g) {
		t.Fatal("the shortcut does not wait for the access in flight")
	}
	th.end()
	if waiting(th, g) {
		t.Fatal("the shooter still waits after the access ended")
	}
	th.begin()
	if cached(th, 3) {
		t.Fatal("page 3, queued through the shortcut, survived the next access")
	}
	th.end()
}

// TestShootdownQueueOrder: queue records the range before it publishes
// the new gen. While the range cannot be recorded (the test holds the
// thread's mu), the gen must not move: a thread that saw it would ack it
// and be released by wait before the range reached its queue.
func TestShootdownQueueOrder(t *testing.T) {
	th := testThread(t, 1)
	sd := &th.sd
	before := sd.gen.Load()
	sd.mu.Lock()
	started := make(chan struct{})
	done := make(chan uint64)
	go func() {
		close(started)
		done <- sd.queue(0, PageSize)
	}()
	<-started
	for range 2000 {
		runtime.Gosched()
		if sd.gen.Load() != before {
			sd.mu.Unlock()
			<-done
			t.Fatal("queue published a new gen before it recorded its range")
		}
	}
	sd.mu.Unlock()
	if g := <-done; g <= before || len(sd.pending) != 1 {
		t.Fatalf("queue returned gen %d (before %d) with %d ranges pending", g, before, len(sd.pending))
	}
	th.begin()
	if cached(th, 0) {
		t.Fatal("the queued page survived the thread's next access")
	}
	th.end()
}
