package fault

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/vmsim/vmsim/pgtable"
)

// stressWord is the only non-zero value the stress test ever stores in the
// word at byte offset off of the file, so any other value read back (the
// poison of a freed frame, or a word of another page) is a bug.
func stressWord(off int64) uint64 { return uint64(off) | 1<<63 }

// checkWords reports the first word of b (file bytes from off) that is
// neither zero nor its stressWord.
func checkWords(b []byte, off int64) (int64, uint64, bool) {
	for i := 0; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w != 0 && w != stressWord(off+int64(i)) {
			return off + int64(i), w, false
		}
	}
	return 0, 0, true
}

// TestFileStress races faults, pwrite, pread, truncation and cache drops
// on one file. Every frame a fault returns must hold the file's words (or
// zeros) for as long as the reference is held, never poison; at the end
// every frame is back in the pool.
func TestFileStress(t *testing.T) {
	const (
		maxPages = 16
		iters    = 400
	)
	frames := pgtable.NewFrames(4 * maxPages)
	f := NewFile("/stress", nil, FileOptions{})
	if err := f.Truncate(maxPages * ps); err != nil {
		t.Fatal(err)
	}
	v := mapFile(f)
	cancel := f.OnTruncate(func(start, end uint64) {
		if start >= end {
			t.Errorf("OnTruncate with empty range [%d, %d)", start, end)
		}
	})
	defer cancel()

	var wg sync.WaitGroup
	for g := range 2 { // faulting CPUs
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range iters {
				pgoff := rng.Uint64N(maxPages)
				vf, res := fileFault(f, frames, v, pgoff, 0)
				switch {
				case res == SIGBUS && pgoff >= f.Pages(): // truncated: fine
					continue
				case res == SIGBUS || res == Retry:
					continue // lost a race with a truncation; the handler would retry
				case res.Error():
					t.Errorf("fault at %d = %#x", pgoff, res)
					return
				}
				b := frameBytes(frames, vf.Page)
				if off, w, ok := checkWords(b, int64(pgoff)*ps); !ok {
					t.Errorf("frame %d for page %d: word at %#x = %#x", vf.Page, pgoff, off, w)
				}
				frames.Put(vf.Page)
			}
		})
	}
	wg.Go(func() { // pwrite
		rng := rand.New(rand.NewPCG(7, 1))
		var b [64]byte
		for range iters {
			off := int64(rng.IntN(maxPages*ps-len(b))) &^ 7
			for i := 0; i < len(b); i += 8 {
				binary.LittleEndian.PutUint64(b[i:], stressWord(off+int64(i)))
			}
			if _, err := f.WriteAt(b[:], off); err != nil {
				t.Errorf("WriteAt: %v", err)
				return
			}
		}
	})
	wg.Go(func() { // pread
		rng := rand.New(rand.NewPCG(8, 1))
		b := make([]byte, 3*ps)
		for range iters {
			off := int64(rng.IntN(maxPages*ps)) &^ 7
			n, _ := f.ReadAt(b, off)
			if at, w, ok := checkWords(b[:n&^7], off); !ok {
				t.Errorf("ReadAt: word at %#x = %#x", at, w)
				return
			}
		}
	})
	wg.Go(func() { // truncate and drop
		rng := rand.New(rand.NewPCG(9, 1))
		for i := range iters / 4 {
			size := int64(rng.IntN(maxPages*ps)) &^ 7
			if err := f.Truncate(size); err != nil {
				t.Errorf("Truncate: %v", err)
				return
			}
			if i%8 == 0 {
				f.DropCache()
			}
		}
	})
	wg.Wait()

	checkNoPageBeyondEOF(t, f)
	f.DropCache()
	if n := frames.InUse(); n != 0 {
		t.Fatalf("%d frames in use after the stress and DropCache, want 0", n)
	}
	if st := f.Stats(); st.CachedPages != 0 || st.Reads == 0 {
		t.Fatalf("Stats %+v: want an empty cache and some reads done", st)
	}
	if off, w, ok := checkWords(readAll(t, f), 0); !ok {
		t.Fatalf("final contents: word at %#x = %#x", off, w)
	}
}
