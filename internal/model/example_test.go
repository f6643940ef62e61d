package model_test

import (
	"fmt"

	"github.com/vmsim/vmsim/internal/model"
)

// Example shows the rules the model encodes: top-down placement, a split
// by mprotect and the merge back, and private anonymous contents.
func Example() {
	m := model.New(model.Config{})
	const rw = model.ProtRead | model.ProtWrite
	addr, _ := m.Mmap(0, 3*model.PageSize, rw, model.MapPrivate|model.MapAnonymous, nil, 0)
	fmt.Printf("placed at %#x (MmapBase - 3 pages)\n", addr)

	m.Mprotect(addr+model.PageSize, model.PageSize, model.ProtRead)
	for _, v := range m.VMAs() {
		fmt.Println(v.Start-addr, v.End-addr, v.Perms())
	}
	m.Mprotect(addr+model.PageSize, model.PageSize, rw)
	fmt.Println("after mprotect back:", len(m.VMAs()), "VMA")

	m.Store(addr, 42)
	b, _ := m.Load(addr)
	fmt.Println("stored", b)
	m.Madvise(addr, model.PageSize, model.MadvDontneed)
	b, _ = m.Load(addr)
	fmt.Println("after MADV_DONTNEED", b)
	_, err := m.Load(addr + 3*model.PageSize)
	fmt.Println("beyond the mapping:", err.Name())
	// Output:
	// placed at 0x7ffff7ffc000 (MmapBase - 3 pages)
	// 0 4096 rw-p
	// 4096 8192 r--p
	// 8192 12288 rw-p
	// after mprotect back: 1 VMA
	// stored 42
	// after MADV_DONTNEED 0
	// beyond the mapping: EFAULT
}
