package vma

import (
	"fmt"
	"math/bits"
)

// GapRequest describes a free range to find (Linux struct
// vm_unmapped_area_info). It is a plain value.
type GapRequest struct {
	Length  uint64 // bytes; 0 never fits
	Low     uint64 // the range must start at or above Low
	High    uint64 // the range must end at or below High (clamped to AddrLimit)
	Align   uint64 // the start's alignment: a power of two >= PageSize, or 0 for PageSize
	TopDown bool   // find the highest fit (mmap's default layout) rather than the lowest
}

// gapReq is a normalized GapRequest.
type gapReq struct {
	length, low, high, mask uint64
}

// UnmappedArea finds a free range for req in the Txn's current state
// (Linux vm_unmapped_area): with TopDown, the highest aligned a such that
// [a, a+Length) is free, a >= Low and a+Length <= High — the mapping goes
// at the top of the highest gap that fits; without it, the lowest such a.
// It reports false if there is none.
//
// The search is O(log n) in the number of gaps: it skips every subtree
// whose largest gap is shorter than Length. Unlike Linux, which searches
// for Length + Align - PageSize so as never to retry, it is exact: a gap
// that fits only thanks to a lucky alignment is found too. With Align
// above PageSize, gaps long enough but misaligned are visited and
// rejected one by one, so a pathological layout can cost more.
//
// It panics if Align is neither 0 nor a power of two >= PageSize (a
// programmer error). Preconditions: the caller holds the writer lock
// (the Txn is writer-private).
func (tx *Txn) UnmappedArea(req GapRequest) (uint64, bool) {
	tx.checkOpen()
	align := req.Align
	if align == 0 {
		align = PageSize
	}
	if align < PageSize || bits.OnesCount64(align) != 1 {
		panic(fmt.Sprintf("vma: bad GapRequest.Align %#x", req.Align))
	}
	r := gapReq{length: req.Length, low: req.Low, high: min(req.High, AddrLimit), mask: align - 1}
	if r.length == 0 || r.high < r.low || r.high-r.low < r.length {
		return 0, false
	}
	if req.TopDown {
		return r.topDown(tx.t.gaps.root)
	}
	return r.bottomUp(tx.t.gaps.root)
}

// topDown returns the highest fit in the subtree n (compare mm/vma.c:
// unmapped_area_topdown). Right subtrees are searched before their root
// and left subtrees; a subtree whose largest gap is too short, or whose
// gaps lie wholly outside [low, high), is skipped.
//
// Preconditions: r.high - r.low >= r.length.
func (r *gapReq) topDown(n *gapNode) (uint64, bool) {
	for n != nil && n.maxLen >= r.length {
		// n and its right subtree start at or above n.start: a range
		// there needs n.start + length <= high.
		if n.start <= r.high-r.length {
			if a, ok := r.topDown(n.right); ok {
				return a, true
			}
			if a, ok := r.fitTop(n); ok {
				return a, true
			}
		}
		// The left subtree ends before n.start: a range there needs
		// low + length <= n.start.
		if n.start < r.low || n.start-r.low < r.length {
			break
		}
		n = n.left
	}
	return 0, false
}

// bottomUp returns the lowest fit in the subtree n (compare mm/vma.c:
// unmapped_area), searching left subtrees first.
//
// Preconditions: r.high - r.low >= r.length.
func (r *gapReq) bottomUp(n *gapNode) (uint64, bool) {
	for n != nil && n.maxLen >= r.length {
		if n.start >= r.low && n.start-r.low >= r.length {
			if a, ok := r.bottomUp(n.left); ok {
				return a, true
			}
		}
		if n.start > r.high-r.length {
			break
		}
		if a, ok := r.fitBottom(n); ok {
			return a, true
		}
		n = n.right
	}
	return 0, false
}

// fitTop returns the highest aligned start of a range that fits in gap n
// clipped to [low, high).
func (r *gapReq) fitTop(n *gapNode) (uint64, bool) {
	lo, hi := max(n.start, r.low), min(n.end, r.high)
	if hi < lo || hi-lo < r.length {
		return 0, false
	}
	a := (hi - r.length) &^ r.mask
	if a < lo {
		return 0, false
	}
	return a, true
}

// fitBottom returns the lowest aligned start of a range that fits in gap
// n clipped to [low, high).
func (r *gapReq) fitBottom(n *gapNode) (uint64, bool) {
	lo, hi := max(n.start, r.low), min(n.end, r.high)
	if hi < lo {
		return 0, false
	}
	if lo > ^uint64(0)-r.mask {
		return 0, false // aligning up would overflow
	}
	a := (lo + r.mask) &^ r.mask
	if a > hi || hi-a < r.length {
		return 0, false
	}
	return a, true
}
