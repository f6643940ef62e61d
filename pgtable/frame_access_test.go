package pgtable

import (
	"bytes"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

func TestFrameBytesAreLittleEndian(t *testing.T) {
	f := NewFrames(1)
	p := mustAlloc(t, f)
	f.WriteAt(p, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 8)
	if got := f.Load(p, 1); got != 0x0807060504030201 {
		t.Fatalf("word 1 = %#x, want 0x0807060504030201", got)
	}
	if got := f.Load(p, 2); got != 9 {
		t.Fatalf("word 2 = %#x, want 9", got)
	}
	f.Store(p, 5, 0x1122334455667788)
	b := make([]byte, 3)
	f.ReadAt(p, b, 5*8+2)
	if !bytes.Equal(b, []byte{0x66, 0x55, 0x44}) {
		t.Fatalf("ReadAt = % x, want 66 55 44", b)
	}
}

func TestReadWriteAtMatchByteModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		f := NewFrames(2)
		p, err := f.Alloc()
		if err != nil {
			rt.Fatal(err)
		}
		model := make([]byte, PageSize)
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			// Offsets and lengths concentrate near word edges and the frame end.
			off := rapid.OneOf(rapid.IntRange(0, 40), rapid.IntRange(PageSize-40, PageSize), rapid.IntRange(0, PageSize)).Draw(rt, "off")
			n := rapid.IntRange(0, min(PageSize-off, 70)).Draw(rt, "n")
			if rapid.Bool().Draw(rt, "write") {
				b := rapid.SliceOfN(rapid.Byte(), n, n).Draw(rt, "bytes")
				f.WriteAt(p, b, off)
				copy(model[off:], b)
			} else {
				b := make([]byte, n)
				f.ReadAt(p, b, off)
				if !bytes.Equal(b, model[off:off+n]) {
					rt.Fatalf("ReadAt(%d, %d) = % x, model % x", off, n, b, model[off:off+n])
				}
			}
		}
		whole := make([]byte, PageSize)
		f.ReadAt(p, whole, 0)
		if !bytes.Equal(whole, model) {
			rt.Fatal("frame differs from the byte model")
		}
		q, _ := f.Alloc()
		f.Copy(q, p)
		f.ReadAt(q, whole, 0)
		if !bytes.Equal(whole, model) {
			rt.Fatal("Copy differs from the byte model")
		}
	})
}

// Each goroutine owns one byte of the same word and must always read back
// what it last wrote there: a read-modify-write that is not a CAS would let
// a neighbour's write resurrect an old value.
func TestConcurrentNeighbourByteWritesNeverLost(t *testing.T) {
	const rounds = 3000
	f := NewFrames(1)
	p := mustAlloc(t, f)
	const off = 3 * 8
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			b := make([]byte, 1)
			for r := range rounds {
				want := byte(r*7 + g)
				f.WriteAt(p, []byte{want}, off+g)
				f.ReadAt(p, b, off+g)
				if b[0] != want {
					errs <- "lost update"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	got := make([]byte, 8)
	f.ReadAt(p, got, off)
	for g := range 8 {
		if want := byte((rounds-1)*7 + g); got[g] != want {
			t.Fatalf("byte %d = %d, want its writer's last value %d", g, got[g], want)
		}
	}
}

func TestCompareAndSwap(t *testing.T) {
	f := NewFrames(1)
	p := mustAlloc(t, f)
	if !f.CompareAndSwap(p, 9, 0, 5) || f.Load(p, 9) != 5 {
		t.Fatal("CAS from the right old value failed")
	}
	if f.CompareAndSwap(p, 9, 0, 6) || f.Load(p, 9) != 5 {
		t.Fatal("CAS from a wrong old value succeeded")
	}
}
