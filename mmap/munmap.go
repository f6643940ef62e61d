package mmap

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
)

// Munmap removes the mappings in [addr, addr+length), splitting VMAs that
// straddle its edges. Unmapping a range with nothing in it succeeds. When
// Munmap returns, no thread can still reach the old pages: their PTEs are
// zapped and every TLB shot down before the frames are freed (mm/vma.c:
// do_vmi_munmap → do_vmi_align_munmap).
func (as *AddressSpace) Munmap(addr, length uint64) error {
	return as.munmapTraced(addr, length, as.sysTrack)
}

func (as *AddressSpace) munmapTraced(addr, length uint64, tb *trace.Buffer) error {
	if tb != nil {
		tb.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "munmap", Addr: addr, Len: length,
			Arg: fmt.Sprintf("%#x, %#x", addr, length)})
	}
	err := as.doMunmap(addr, length, tb)
	traceEnd(tb, "munmap", 0, err)
	return err
}

func (as *AddressSpace) doMunmap(addr, length uint64, tb *trace.Buffer) error {
	// mm/vma.c: do_vmi_munmap.
	if addr&pgtable.PageMask != 0 || addr > TaskSize || length > TaskSize-addr {
		return EINVAL
	}
	length = pageAlign(length)
	if length == 0 {
		return EINVAL
	}
	end := addr + length
	as.mm.WriteLock()
	defer as.writeUnlock()
	if as.closed.Load() {
		return ErrClosed
	}
	c := as.beginLocked("munmap", tb)
	if splitsOverLimit(c.tx, addr, end, as.cfg.MaxMapCount) {
		c.abortLocked()
		return ENOMEM
	}
	c.unmapLocked(addr, end)
	c.finishLocked()
	as.mm.Table.FreeEmpty(addr, end)
	as.stats.munmaps.Add(1)
	return nil
}
