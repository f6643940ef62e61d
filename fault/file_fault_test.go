package fault

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// These tests call File.Fault directly, as the handler's slow path does,
// with an MM that has only its frames: Fault needs nothing else.

const testBase = 0x10000000

// mapFile returns a shared VMA mapping the first 64 pages of f.
func mapFile(f *File) *vma.VMA {
	return vma.New(testBase, testBase+64*ps, vma.ProtRead|vma.ProtWrite, vma.FlagShared, 0, f)
}

// fileFault runs f.Fault for page pgoff of v in the address space whose
// frames are frames, and returns the VMFault (Page set on success).
func fileFault(f *File, frames *pgtable.Frames, v *vma.VMA, pgoff uint64, flags Flags) (*VMFault, Result) {
	vf := &VMFault{VMA: v, Address: v.Start + (pgoff-v.Pgoff)*ps, Pgoff: pgoff, Flags: flags,
		mm: &MM{Frames: frames}}
	return vf, f.Fault(vf)
}

// frameBytes returns frame p's contents.
func frameBytes(frames *pgtable.Frames, p pgtable.PFN) []byte {
	b := make([]byte, ps)
	frames.ReadAt(p, b, 0)
	return b
}

func TestFileFaultMissThenHit(t *testing.T) {
	frames := pgtable.NewFrames(64)
	data := pattern(2*ps+100, 3)
	f := NewFile("/f", data, FileOptions{})
	v := mapFile(f)

	vf, res := fileFault(f, frames, v, 1, 0)
	if res != Major {
		t.Fatalf("first fault = %#x, want Major (it did the read)", res)
	}
	if vf.Owned {
		t.Fatal("a page-cache page must not be Owned: a private write has to copy it")
	}
	p := vf.Page
	if !bytes.Equal(frameBytes(frames, p), data[ps:2*ps]) {
		t.Fatal("the faulted frame does not hold the file's page")
	}
	if r := frames.Refcount(p); r != 2 {
		t.Fatalf("refcount %d after a miss, want 2 (cache + caller)", r)
	}

	vf2, res := fileFault(f, frames, v, 1, FlagWrite)
	if res != 0 || vf2.Page != p {
		t.Fatalf("second fault = %#x page %d, want 0 and the cached frame %d", res, vf2.Page, p)
	}
	if r := frames.Refcount(p); r != 3 {
		t.Fatalf("refcount %d after a hit, want 3", r)
	}
	st := f.Stats()
	if st != (FileStats{CachedPages: 1, Misses: 1, Hits: 1, Reads: 1}) {
		t.Fatalf("Stats %+v", st)
	}

	// The last page: bytes beyond the end of the file read as zeros.
	vf3, res := fileFault(f, frames, v, 2, 0)
	if res != Major {
		t.Fatalf("fault on the last page = %#x", res)
	}
	last := frameBytes(frames, vf3.Page)
	if !bytes.Equal(last[:100], data[2*ps:]) || !isZero(last[100:]) {
		t.Fatal("the last page's tail beyond EOF is not zero")
	}

	frames.Put(p)
	frames.Put(p)
	frames.Put(vf3.Page)
	f.DropCache()
	if n := frames.InUse(); n != 0 {
		t.Fatalf("%d frames in use after DropCache, want 0", n)
	}
	if st := f.Stats(); st.CachedPages != 0 {
		t.Fatalf("CachedPages %d after DropCache", st.CachedPages)
	}
}

func TestFileFaultBeyondEOF(t *testing.T) {
	frames := pgtable.NewFrames(8)
	f := NewFile("/f", pattern(ps+1, 0), FileOptions{})
	v := mapFile(f)
	if _, res := fileFault(f, frames, v, 2, 0); res != SIGBUS {
		t.Fatalf("fault wholly beyond EOF = %#x, want SIGBUS", res)
	}
	vf, res := fileFault(f, frames, v, 1, 0) // partly inside: fine
	if res.Error() {
		t.Fatalf("fault on the partial last page = %#x", res)
	}
	frames.Put(vf.Page)
	if err := f.Truncate(ps); err != nil {
		t.Fatal(err)
	}
	if _, res := fileFault(f, frames, v, 1, 0); res != SIGBUS {
		t.Fatalf("fault on a truncated page = %#x, want SIGBUS", res)
	}
	if st := f.Stats(); st.CachedPages != 0 || frames.InUse() != 0 {
		t.Fatalf("truncated page still cached: %+v, %d frames in use", st, frames.InUse())
	}
}

func TestFileFaultOOM(t *testing.T) {
	frames := pgtable.NewFrames(1)
	f := NewFile("/f", pattern(2*ps, 0), FileOptions{})
	v := mapFile(f)
	vf, res := fileFault(f, frames, v, 0, 0)
	if res.Error() {
		t.Fatalf("first fault = %#x", res)
	}
	if _, res := fileFault(f, frames, v, 1, 0); res != OOM {
		t.Fatalf("fault with no frame left = %#x, want OOM", res)
	}
	frames.Put(vf.Page)
	f.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames leaked", frames.InUse())
	}
}

// TestFileFaultSingleRead: faults racing on one missing page wait for one
// read and all get the same frame.
func TestFileFaultSingleRead(t *testing.T) {
	const n = 8
	frames := pgtable.NewFrames(16)
	f := NewFile("/slow", pattern(ps, 1), FileOptions{MissLatency: 20 * time.Millisecond})
	v := mapFile(f)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		pages   [n]pgtable.PFN
		results [n]Result
	)
	for i := range n {
		wg.Go(func() {
			<-start
			vf, res := fileFault(f, frames, v, 0, 0)
			pages[i], results[i] = vf.Page, res
		})
	}
	close(start)
	wg.Wait()
	majors := 0
	for i := range n {
		if results[i] != 0 && results[i] != Major {
			t.Fatalf("fault %d = %#x", i, results[i])
		}
		if results[i] == Major {
			majors++
		}
		if pages[i] != pages[0] {
			t.Fatalf("faults got frames %d and %d for one page", pages[0], pages[i])
		}
	}
	st := f.Stats()
	if st.Reads != 1 || majors != 1 {
		t.Fatalf("%d reads and %d major faults for one page, want 1 and 1 (%+v)", st.Reads, majors, st)
	}
	if st.Misses+st.Hits != n || st.Waits > st.Misses-1 {
		t.Fatalf("inconsistent counters for %d faults: %+v", n, st)
	}
	if r := frames.Refcount(pages[0]); r != n+1 {
		t.Fatalf("refcount %d, want %d (cache + each fault)", r, n+1)
	}
	for range n {
		frames.Put(pages[0])
	}
	f.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames leaked", frames.InUse())
	}
}

// TestFileCoherence: a cached page is one set of bytes, whether reached
// through its frame (a MAP_SHARED mapping) or ReadAt/WriteAt.
func TestFileCoherence(t *testing.T) {
	frames := pgtable.NewFrames(8)
	f := NewFile("/c", make([]byte, 2*ps), FileOptions{})
	v := mapFile(f)
	vf, res := fileFault(f, frames, v, 1, FlagWrite)
	if res.Error() {
		t.Fatalf("fault = %#x", res)
	}
	p := vf.Page

	frames.WriteAt(p, []byte("via the mapping"), 100) // a store through a shared mapping
	b := make([]byte, 15)
	if _, err := f.ReadAt(b, ps+100); err != nil || string(b) != "via the mapping" {
		t.Fatalf("ReadAt = %q, %v; want the store made through the frame", b, err)
	}
	if _, err := f.WriteAt([]byte("via pwrite"), ps+2000); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	frames.ReadAt(p, got, 2000)
	if string(got) != "via pwrite" {
		t.Fatalf("frame holds %q, want WriteAt's bytes at once", got)
	}

	// DropCache writes the frame back: the data survives the cache.
	frames.Put(p)
	f.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames in use after DropCache", frames.InUse())
	}
	all := readAll(t, f)
	if string(all[ps+100:ps+115]) != "via the mapping" || string(all[ps+2000:ps+2010]) != "via pwrite" {
		t.Fatal("DropCache lost what was written in the cached frame")
	}
}

// TestFileGrowZeroesTail: bytes a shared mapping stored beyond EOF in the
// last page read as zeros once the file grows over them.
func TestFileGrowZeroesTail(t *testing.T) {
	for _, grow := range []string{"Truncate", "WriteAt"} {
		t.Run(grow, func(t *testing.T) {
			frames := pgtable.NewFrames(8)
			f := NewFile("/g", pattern(100, 0), FileOptions{})
			vf, res := fileFault(f, frames, mapFile(f), 0, FlagWrite)
			if res.Error() {
				t.Fatalf("fault = %#x", res)
			}
			frames.WriteAt(vf.Page, bytes.Repeat([]byte{0xff}, 50), 200) // beyond EOF
			if grow == "Truncate" {
				if err := f.Truncate(400); err != nil {
					t.Fatal(err)
				}
			} else if _, err := f.WriteAt([]byte{1}, 399); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, f)
			if len(got) != 400 || !isZero(got[100:399]) {
				t.Fatalf("after %s the old tail reads %x..., want zeros", grow, got[200:210])
			}
			frames.Put(vf.Page)
			f.DropCache()
		})
	}
}

// TestFileTruncateCallbacks: OnTruncate callbacks run after the new size
// is visible and before the pages are dropped, with the dropped range.
func TestFileTruncateCallbacks(t *testing.T) {
	frames := pgtable.NewFrames(16)
	f := NewFile("/t", pattern(5*ps, 0), FileOptions{})
	v := mapFile(f)
	var held [5]pgtable.PFN
	for i := range held {
		vf, res := fileFault(f, frames, v, uint64(i), 0)
		if res.Error() {
			t.Fatalf("fault %d = %#x", i, res)
		}
		held[i] = vf.Page
	}

	type call struct{ start, end uint64 }
	var calls []call
	cancel := f.OpenReadOnly().OnTruncate(func(start, end uint64) { // registered on another open: same inode
		calls = append(calls, call{start, end})
		if f.Size() != 2*ps+10 {
			t.Errorf("callback sees size %d, want the new size already", f.Size())
		}
		if c := f.Stats().CachedPages; c != 5 {
			t.Errorf("callback sees %d cached pages, want all 5 (dropped after it returns)", c)
		}
		if _, res := fileFault(f, frames, v, 3, 0); res != SIGBUS {
			t.Errorf("fault on a dropped page during the callback = %#x, want SIGBUS", res)
		}
		b := make([]byte, 10)
		if _, err := f.ReadAt(b, 2*ps); err != nil {
			t.Errorf("ReadAt during the callback: %v", err)
		}
	})
	second := 0
	cancel2 := f.OnTruncate(func(uint64, uint64) { second++ })

	if err := f.Truncate(2*ps + 10); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] != (call{3, 5}) || second != 1 {
		t.Fatalf("callbacks: %v and %d calls, want [{3 5}] and 1", calls, second)
	}
	for i, p := range held {
		want := int32(2)
		if i >= 3 {
			want = 1 // the cache's reference is gone; only ours is left
		}
		if r := frames.Refcount(p); r != want {
			t.Errorf("page %d: refcount %d after Truncate, want %d", i, r, want)
		}
	}
	tail := frameBytes(frames, held[2])
	if !bytes.Equal(tail[:10], pattern(5*ps, 0)[2*ps:2*ps+10]) || !isZero(tail[10:]) {
		t.Fatal("the page cut by the new end was not zeroed beyond it in its frame")
	}

	// Growing drops nothing and calls nobody; a cancelled callback is not
	// called again.
	if err := f.Truncate(4 * ps); err != nil {
		t.Fatal(err)
	}
	cancel()
	cancel() // harmless
	if err := f.Truncate(ps); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || second != 2 {
		t.Fatalf("after grow, cancel and shrink: %d and %d calls, want 1 and 2", len(calls), second)
	}
	cancel2()

	for _, p := range held {
		frames.Put(p)
	}
	f.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames leaked", frames.InUse())
	}
}

// TestFileOnePool: the page cache lives in one pool of frames; another
// address space's fault gets SIGBUS until the cache is released.
func TestFileOnePool(t *testing.T) {
	a, b := pgtable.NewFrames(8), pgtable.NewFrames(8)
	f := NewFile("/p", pattern(ps, 0), FileOptions{})
	v := mapFile(f)
	vf, res := fileFault(f, a, v, 0, 0)
	if res.Error() {
		t.Fatalf("fault from pool a = %#x", res)
	}
	a.Put(vf.Page)
	if _, res := fileFault(f, b, v, 0, 0); res != SIGBUS {
		t.Fatalf("fault from pool b = %#x, want SIGBUS while a holds the cache", res)
	}
	if f.ReleaseFrames(b) {
		t.Fatal("ReleaseFrames(b) released a cache bound to a")
	}
	if !f.ReleaseFrames(a) || a.InUse() != 0 {
		t.Fatalf("ReleaseFrames(a) did not return a's frames (%d in use)", a.InUse())
	}
	vf, res = fileFault(f, b, v, 0, 0)
	if res.Error() || !bytes.Equal(frameBytes(b, vf.Page), pattern(ps, 0)) {
		t.Fatalf("fault from pool b after release = %#x", res)
	}
	b.Put(vf.Page)
	f.DropCache()
	if b.InUse() != 0 {
		t.Fatalf("%d frames of b leaked", b.InUse())
	}
}

func TestShmemFault(t *testing.T) {
	frames := pgtable.NewFrames(8)
	s := NewShmem(2*ps + 100)
	v1, v2 := mapFile(s), vma.New(testBase*2, testBase*2+4*ps, vma.ProtRead, vma.FlagShared, 0, s)
	if s.MapCount() != 2 {
		t.Fatalf("MapCount %d, want 2 (two VMAs opened)", s.MapCount())
	}
	vf1, res := fileFault(s, frames, v1, 2, FlagWrite)
	if res != 0 {
		t.Fatalf("shmem fault = %#x, want 0 (a minor fault)", res)
	}
	if !isZero(frameBytes(frames, vf1.Page)) {
		t.Fatal("shmem page is not zero-filled")
	}
	frames.WriteAt(vf1.Page, []byte("shared"), 0)
	vf2, res := fileFault(s, frames, v2, 2, 0)
	if res != 0 || vf2.Page != vf1.Page {
		t.Fatalf("second VMA's fault = %#x frame %d, want frame %d", res, vf2.Page, vf1.Page)
	}
	if _, res := fileFault(s, frames, v1, 3, 0); res != SIGBUS {
		t.Fatalf("fault beyond the shmem size = %#x, want SIGBUS", res)
	}
	s.Close(v1)
	s.Close(v2)
	if s.MapCount() != 0 {
		t.Fatalf("MapCount %d after Close, want 0", s.MapCount())
	}
	frames.Put(vf1.Page)
	frames.Put(vf2.Page)
	s.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames leaked", frames.InUse())
	}
	b := make([]byte, 6)
	if _, err := s.ReadAt(b, 2*ps); err != nil || string(b) != "shared" {
		t.Fatalf("shmem ReadAt after DropCache = %q, %v", b, err)
	}
}

// TestFileMapPagesRefusals covers the MapPages cases that return before
// mapping anything; mapping itself needs a live MM (the handler's tests).
func TestFileMapPagesRefusals(t *testing.T) {
	frames := pgtable.NewFrames(8)
	f := NewFile("/m", pattern(2*ps, 0), FileOptions{})
	v := mapFile(f)
	mk := func(pgoff uint64, flags Flags) *VMFault {
		return &VMFault{VMA: v, Address: v.Start + pgoff*ps, Pgoff: pgoff, Flags: flags, mm: &MM{Frames: frames}}
	}
	if res := f.MapPages(mk(0, 0), 0, 2); res != Retry {
		t.Fatalf("MapPages before any fault bound the cache = %#x, want Retry", res)
	}
	vf, res := fileFault(f, frames, v, 0, 0)
	if res.Error() {
		t.Fatal(res)
	}
	if res := f.MapPages(mk(0, FlagWrite), 0, 2); res != Retry {
		t.Fatalf("MapPages for a write fault = %#x, want Retry", res)
	}
	if res := f.MapPages(mk(5, 0), 5, 8); res != Retry {
		t.Fatalf("MapPages beyond EOF = %#x, want Retry", res)
	}
	other := pgtable.NewFrames(8)
	if res := f.MapPages(&VMFault{VMA: v, Address: v.Start, mm: &MM{Frames: other}}, 0, 2); res != Retry {
		t.Fatalf("MapPages from another pool = %#x, want Retry", res)
	}
	frames.Put(vf.Page)
	f.DropCache()
}

// TestFileTruncateRacesRead: a Truncate that lands while a fault is
// reading the page it cuts off must win: the page never enters the cache
// beyond the new end, and after the file grows back it reads as zeros,
// through ReadAt and through a new fault.
func TestFileTruncateRacesRead(t *testing.T) {
	frames := pgtable.NewFrames(8)
	f := NewFile("/r", pattern(2*ps, 0), FileOptions{MissLatency: 30 * time.Millisecond})
	v := mapFile(f)
	done := make(chan Result)
	go func() {
		vf, res := fileFault(f, frames, v, 1, 0)
		if !res.Error() && res&Retry == 0 {
			frames.Put(vf.Page) // got the page before the truncation: legal
		}
		done <- res
	}()
	for f.Stats().Misses == 0 { // the fault is now reading (most likely asleep)
		runtime.Gosched()
	}
	if err := f.Truncate(ps); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Error() && res != SIGBUS {
		t.Fatalf("racing fault = %#x, want success or SIGBUS", res)
	}
	checkNoPageBeyondEOF(t, f)
	if err := f.Truncate(2 * ps); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, ps)
	if _, err := f.ReadAt(b, ps); err != nil || !isZero(b) {
		t.Fatalf("ReadAt of the truncated page: err %v, zero %v; the old contents came back", err, isZero(b))
	}
	vf, res := fileFault(f, frames, v, 1, 0)
	if res.Error() || !isZero(frameBytes(frames, vf.Page)) {
		t.Fatalf("fault on the truncated page = %#x; want a zero page", res)
	}
	frames.Put(vf.Page)
	f.DropCache()
	if frames.InUse() != 0 {
		t.Fatalf("%d frames leaked", frames.InUse())
	}
}

// checkNoPageBeyondEOF fails t if the page cache holds a page wholly
// beyond the end of f (once no Truncate or fault is in flight).
func checkNoPageBeyondEOF(t *testing.T, f *File) {
	t.Helper()
	in := f.ino
	in.mu.Lock()
	defer in.mu.Unlock()
	pc := in.cache.Load()
	if pc == nil {
		return
	}
	pages := pagesOf(in.size.Load())
	pc.pages.RangeLocked(pages, func(i uint64, p pgtable.PFN) {
		t.Errorf("page %d (frame %d) cached beyond EOF (%d pages)", i, p, pages)
	})
}

// TestFileDropCacheRacesRead: a DropCache that lands while a fault is
// reading a page unbinds the cache the read was for; the read must not
// insert its frame there (where nothing would ever free it).
func TestFileDropCacheRacesRead(t *testing.T) {
	frames := pgtable.NewFrames(8)
	f := NewFile("/d", pattern(ps, 0), FileOptions{MissLatency: 30 * time.Millisecond})
	v := mapFile(f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		vf, res := fileFault(f, frames, v, 0, 0)
		if res.Error() || res&Retry != 0 {
			t.Errorf("racing fault = %#x", res)
			return
		}
		if !bytes.Equal(frameBytes(frames, vf.Page), pattern(ps, 0)) {
			t.Error("racing fault's page does not hold the file's data")
		}
		frames.Put(vf.Page)
	}()
	for f.Stats().Misses == 0 {
		runtime.Gosched()
	}
	f.DropCache() // most likely while the read sleeps
	<-done
	f.DropCache()
	if n := frames.InUse(); n != 0 {
		t.Fatalf("%d frames in use after the final DropCache, want 0", n)
	}
}
