//go:build linux

package kernel

import (
	"errors"
	"syscall"
	"testing"
)

// TestForkChildProgram: a forked child sees the parent's page as it was
// at the fork, its stores and mappings are its own, its layout is
// reported, and the parent is untouched; a program that would map at a
// fixed address outside the window is refused before any fork.
func TestForkChildProgram(t *testing.T) {
	h := openTest(t)
	base := h.Window().Base
	const rw = syscall.PROT_READ | syscall.PROT_WRITE
	const anonPrivate = syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS
	if _, err := h.Mmap(base, pageSize, rw, anonPrivate|syscall.MAP_FIXED, -1, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Store(base, 7); err != nil {
		t.Fatal(err)
	}
	call := func(nr uintptr, args ...uintptr) ChildCall {
		c := ChildCall{Nr: nr}
		copy(c.Args[:], args)
		return c
	}
	res, err := h.Fork([]ChildCall{
		call(ChildLoad, uintptr(base)),
		call(ChildStore, uintptr(base), 9),
		call(ChildLoad, uintptr(base)),
		call(syscall.SYS_MMAP, uintptr(base+2*pageSize), pageSize, rw, anonPrivate|syscall.MAP_FIXED, ^uintptr(0), 0),
		call(syscall.SYS_MUNMAP, uintptr(base), pageSize),
		call(ChildLoad, uintptr(base)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rets[0] != 7 || res.Rets[2] != 9 || res.Rets[3] != uintptr(base+2*pageSize) || res.Errnos[4] != 0 || res.Errnos[5] != syscall.EIO {
		t.Errorf("child results %v, errnos %v", res.Rets, res.Errnos)
	}
	if len(res.Smaps) != 1 || res.Smaps[0].Start != base+2*pageSize || res.Smaps[0].Perms != "rw-p" {
		t.Errorf("child layout %v, want one page at window+2 pages", res.Smaps)
	}
	if b, err := h.Load(base); err != nil || b != 7 {
		t.Errorf("parent reads %d, %v after the child's store and munmap; want 7", b, err)
	}
	if ms, _ := h.Maps(); len(ms) != 1 || ms[0].Start != base {
		t.Errorf("parent layout %v", ms)
	}
	_, err = h.Fork([]ChildCall{call(syscall.SYS_MMAP, 0x10000, pageSize, rw, anonPrivate|syscall.MAP_FIXED, ^uintptr(0), 0)})
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("a fixed mapping outside the window: %v, want a RefusedError", err)
	}
}
