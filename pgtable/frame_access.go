package pgtable

import (
	"fmt"
	"sync/atomic"
)

// Frame contents are little-endian, like x86: byte i of a frame is bits
// 8*(i%8).. of word i/8, so ReadAt of an 8-byte aligned slice and Load of
// the word agree.

// Load atomically reads word (0..WordsPerPage-1) of frame p. It may be
// called on a free frame (it then returns Poison unless the frame was
// reallocated): that is how tests observe a use after free. Safe for
// concurrent use.
func (f *Frames) Load(p PFN, word int) uint64 {
	return atomic.LoadUint64(&f.frame(p)[word])
}

// Store atomically writes word of frame p. It panics if p is ZeroPFN: the
// zero frame is read-only. Safe for concurrent use.
func (f *Frames) Store(p PFN, word int, v uint64) {
	atomic.StoreUint64(&f.writable(p)[word], v)
}

// CompareAndSwap atomically replaces word of frame p with new if it holds
// old, and reports whether it did. It panics if p is ZeroPFN. Safe for
// concurrent use.
func (f *Frames) CompareAndSwap(p PFN, word int, old, new uint64) bool {
	return atomic.CompareAndSwapUint64(&f.writable(p)[word], old, new)
}

// writable returns frame p's words, panicking for the zero frame.
func (f *Frames) writable(p PFN) *[WordsPerPage]uint64 {
	if p == ZeroPFN {
		panic("pgtable: write to the zero frame (copy on write first)")
	}
	return f.frame(p)
}

// checkSpan panics unless [off, off+n) lies inside a frame.
func checkSpan(off, n int) {
	if off < 0 || n > PageSize || off > PageSize-n {
		panic(fmt.Sprintf("pgtable: byte range [%d, %d) outside a %d-byte frame", off, off+n, PageSize))
	}
}

// ReadAt copies bytes [off, off+len(b)) of frame p into b. Each word is
// read atomically, but the whole range is not a snapshot: a concurrent
// writer may be seen in some words and not others, as with memcpy on real
// hardware. It panics if the range leaves the frame. Safe for concurrent
// use.
func (f *Frames) ReadAt(p PFN, b []byte, off int) {
	checkSpan(off, len(b))
	w := f.frame(p)
	for len(b) > 0 {
		word := off >> 3
		shift := uint(off&7) * 8
		v := atomic.LoadUint64(&w[word]) >> shift
		n := min(8-off&7, len(b))
		for i := range n {
			b[i] = byte(v >> (8 * uint(i)))
		}
		b = b[n:]
		off += n
	}
}

// WriteAt copies b into bytes [off, off+len(b)) of frame p. Whole words
// are stored atomically; a partial word is merged with a compare-and-swap
// loop, so concurrent writers of different bytes of one word never lose
// each other's updates (bytes are independent memory locations, as on
// real hardware). It panics if the range leaves the frame or p is ZeroPFN.
// Safe for concurrent use.
func (f *Frames) WriteAt(p PFN, b []byte, off int) {
	checkSpan(off, len(b))
	w := f.writable(p)
	for len(b) > 0 {
		word := off >> 3
		start := off & 7
		n := min(8-start, len(b))
		if n == 8 {
			v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			atomic.StoreUint64(&w[word], v)
		} else {
			var bits, mask uint64
			for i := range n {
				shift := uint(start+i) * 8
				bits |= uint64(b[i]) << shift
				mask |= 0xff << shift
			}
			for {
				old := atomic.LoadUint64(&w[word])
				if atomic.CompareAndSwapUint64(&w[word], old, old&^mask|bits) {
					break
				}
			}
		}
		b = b[n:]
		off += n
	}
}

// Copy replaces the contents of frame dst with those of frame src (Linux
// copy_page, as done by copy-on-write): each word of src is read
// atomically into new storage, which is then published for dst with one
// atomic store. It is meant for a dst nobody maps yet: a store to dst that
// races with Copy is lost. It panics if dst is ZeroPFN. Safe for
// concurrent use; not a snapshot of src.
func (f *Frames) Copy(dst, src PFN) {
	s := f.frame(src)
	d := f.exclusive(dst)
	copyWords(d, s)
	f.publish(dst, d)
}

// exclusive returns storage for replacing the contents of frame p, which
// nobody else maps: p's own storage when storage is recycled (nobody can
// reach it), new storage with FreshStorage (stale accessors might).
func (f *Frames) exclusive(p PFN) *[WordsPerPage]uint64 {
	w := f.writable(p)
	if f.fresh.Load() {
		return new([WordsPerPage]uint64)
	}
	return w
}

// Set replaces the contents of frame p with b followed by zeros, published
// with one atomic store (a page-cache fill). Like Copy it is meant for a
// frame nobody maps yet. It panics if b is longer than a page or p is
// ZeroPFN. Safe for concurrent use.
func (f *Frames) Set(p PFN, b []byte) {
	checkSpan(0, len(b))
	w := f.exclusive(p)
	var page [PageSize]byte
	copy(page[:], b)
	for i := range w {
		o := i * 8
		w[i] = uint64(page[o]) | uint64(page[o+1])<<8 | uint64(page[o+2])<<16 | uint64(page[o+3])<<24 |
			uint64(page[o+4])<<32 | uint64(page[o+5])<<40 | uint64(page[o+6])<<48 | uint64(page[o+7])<<56
	}
	f.publish(p, w)
}

// IsPoisoned reports whether every word of frame p equals Poison, as it
// does from the moment p is freed until it is allocated again. For tests
// and examples. Safe for concurrent use.
func (f *Frames) IsPoisoned(p PFN) bool {
	w := f.frame(p)
	for i := range w {
		if atomic.LoadUint64(&w[i]) != Poison {
			return false
		}
	}
	return true
}
