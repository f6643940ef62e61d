package pgtable_test

import (
	"fmt"

	"github.com/vmsim/vmsim/pgtable"
)

// A page is faulted in, read through a lock-free walk, unmapped, and its
// frame freed after the (here imaginary) TLB shootdown. A stale
// translation then reads poison, and the next allocation reuses the frame.
func Example() {
	frames := pgtable.NewFrames(16)
	table := pgtable.NewTable()
	const addr = 0x7f0000001000

	// Fault: allocate and fill a frame, then install it under the leaf lock.
	p, _ := frames.Alloc()
	frames.WriteAt(p, []byte("hello"), 0)
	leaf := table.LockLeaf(addr)
	leaf.SetLocked(addr, pgtable.MakePTE(p, pgtable.PTEPresent|pgtable.PTERead|pgtable.PTEWrite))
	leaf.Unlock()

	// Access: a lock-free walk, like the hardware's.
	e := table.Lookup(addr)
	buf := make([]byte, 5)
	frames.ReadAt(e.PFN(), buf, 0)
	fmt.Printf("%v holds %q\n", e, buf)

	// munmap: zap the PTEs, (shoot down TLBs), then free the frames.
	for _, q := range table.Zap(addr, addr+pgtable.PageSize, nil) {
		frames.Put(q)
	}
	table.FreeEmpty(0, pgtable.AddressLimit)
	fmt.Printf("after munmap: %v %+v\n", table.Lookup(addr), table.Stats())

	// A stale translation still pointing at the frame sees poison...
	fmt.Printf("stale read: %#x poisoned=%v\n", frames.Load(e.PFN(), 0), frames.IsPoisoned(e.PFN()))
	// ...and the frame is the next one handed out.
	q, _ := frames.Alloc()
	fmt.Println("reused:", q == e.PFN(), "in use:", frames.InUse())
	// Output:
	// pfn=1 rw- holds "hello"
	// after munmap: none {Leaves:0 Interior:0 Present:0}
	// stale read: 0x6b6b6b6b6b6b6b6b poisoned=true
	// reused: true in use: 1
}
