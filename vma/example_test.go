package vma_test

import (
	"fmt"

	"github.com/vmsim/vmsim/vma"
)

const page = vma.PageSize

// A writer maps two areas and then replaces the middle of the first, as
// mmap(MAP_FIXED) does, in one transaction; readers look addresses up in
// the published snapshot. The snapshot taken before the replace still
// shows the old layout: snapshots never change.
func Example() {
	t := vma.NewTree()

	// The writer (holding the mmap write lock).
	tx := t.Begin()
	tx.Insert(vma.New(0x10000, 0x14000, vma.ProtRead|vma.ProtWrite, 0, 0x10, nil))
	tx.Insert(vma.New(0x20000, 0x21000, vma.ProtRead, 0, 0x20, nil))
	tx.Commit()
	before := t.Snapshot()

	// MAP_FIXED over [0x11000, 0x12000): unmap, insert, one publish.
	tx = t.Begin()
	old := tx.Unmap(0x11000, 0x12000)
	tx.Insert(vma.New(0x11000, 0x12000, vma.ProtRead|vma.ProtExec, 0, 0, nil))
	detached := tx.Commit()
	fmt.Println("replaced:", old[0], "attached:", old[0].Attached(), "detached:", len(detached))

	// A reader (inside an RCU read-side section).
	s := t.Snapshot()
	fmt.Println("version", s.Version(), "has", s.Len(), "VMAs")
	for _, v := range s.VMAs() {
		fmt.Println(" ", v, "pgoff", v.Pgoff)
	}
	fmt.Println("Find(0x11800):", s.Find(0x11800))
	fmt.Println("Find(0x18000):", s.Find(0x18000))
	fmt.Println("FindNext(0x18000):", s.FindNext(0x18000))
	fmt.Println("old snapshot Find(0x11800):", before.Find(0x11800))
	// Output:
	// replaced: 00010000-00014000 rw-p attached: false detached: 1
	// version 2 has 4 VMAs
	//   00010000-00011000 rw-p pgoff 16
	//   00011000-00012000 r-xp pgoff 0
	//   00012000-00014000 rw-p pgoff 18
	//   00020000-00021000 r--p pgoff 32
	// Find(0x11800): 00011000-00012000 r-xp
	// Find(0x18000): vma(nil)
	// FindNext(0x18000): 00020000-00021000 r--p
	// old snapshot Find(0x11800): 00010000-00014000 rw-p
}

// Placing new mappings: top-down below a base, as mmap without a hint
// does, and bottom-up with an alignment.
func ExampleTxn_UnmappedArea() {
	t := vma.NewTree()
	tx := t.Begin()
	defer tx.Abort()
	// Mapped: [0x100000, 0x104000) and [0x106000, 0x110000).
	tx.Insert(vma.New(0x100000, 0x104000, vma.ProtRead, 0, 0, nil))
	tx.Insert(vma.New(0x106000, 0x110000, vma.ProtRead, 0, 0, nil))

	base := uint64(0x110000) // like mmap_base: search below it
	a, ok := tx.UnmappedArea(vma.GapRequest{Length: 2 * page, High: base, TopDown: true})
	fmt.Printf("2 pages top-down: %#x %v\n", a, ok) // the gap [0x104000, 0x106000) fits exactly
	a, ok = tx.UnmappedArea(vma.GapRequest{Length: 3 * page, High: base, TopDown: true})
	fmt.Printf("3 pages top-down: %#x %v\n", a, ok) // too big for it: the top of [0, 0x100000)
	a, ok = tx.UnmappedArea(vma.GapRequest{Length: page, Low: 0x104001, High: vma.AddrLimit, Align: 0x10000})
	fmt.Printf("1 page, 64 KiB aligned, bottom-up from 0x104001: %#x %v\n", a, ok)
	_, ok = tx.UnmappedArea(vma.GapRequest{Length: 0x200000, Low: 0x100000, High: base, TopDown: true})
	fmt.Println("2 MiB between 0x100000 and base:", ok)
	// Output:
	// 2 pages top-down: 0x104000 true
	// 3 pages top-down: 0xfd000 true
	// 1 page, 64 KiB aligned, bottom-up from 0x104001: 0x110000 true
	// 2 MiB between 0x100000 and base: false
}
