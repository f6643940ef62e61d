package kernel

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned by Open where there is no Linux kernel to ask.
var ErrUnsupported = errors.New("kernel: the real-kernel oracle needs Linux")

// RefusedError reports a call that the Harness did not issue because it
// could change memory outside its window. It is a plain value, safe to
// share.
type RefusedError struct {
	Call string // e.g. "mmap(0x1000, 0x2000, MAP_FIXED)"
}

func (e *RefusedError) Error() string {
	return "kernel: refused to issue " + e.Call + ": it could touch memory outside the window"
}

// Linux x86-64 constants the Harness needs for its safety checks.
const (
	pageSize         = 4096
	mapFixed         = 0x10
	mapFixedNoreplac = 0x100000
	mremapMaymove    = 1
	mremapFixed      = 2
	mremapDontunmap  = 4
)

func pageAlign(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// checkRange returns nil if every byte the kernel could touch for the range
// [addr, addr+length) — after it rounds addr down and length up to pages —
// lies inside w.
func checkRange(w Window, call string, addr, length uint64) error {
	start := addr &^ (pageSize - 1)
	l := pageAlign(length)
	if l < length || !w.Contains(start, l) || !w.Contains(addr, length) {
		return &RefusedError{Call: call}
	}
	return nil
}

func describe(name string, args ...uint64) string {
	s := name + "("
	for i, a := range args {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%#x", a)
	}
	return s + ")"
}
