package mmap_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vmsim/vmsim/mmap"
)

// A private anonymous mapping, written by one thread and read by another;
// after munmap, the access faults with SIGSEGV.
func Example() {
	as, _ := mmap.New(mmap.Config{})
	defer as.Close()
	a, b := as.NewThread(), as.NewThread()

	addr, _ := as.Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	_ = a.WriteUint64(addr, 42)
	v, _ := b.ReadUint64(addr)
	fmt.Printf("%#x: %d\n", addr, v)

	_ = as.Munmap(addr, 2*mmap.PageSize)
	_, err := b.ReadUint64(addr)
	var sig *mmap.SignalError
	fmt.Println(errors.As(err, &sig), err)
	// Output:
	// 0x7ffff7ffd000: 42
	// true SIGSEGV (SEGV_MAPERR) at 0x7ffff7ffd000
}

// Errors are Linux errnos.
func ExampleAddressSpace_Mmap_errors() {
	as, _ := mmap.New(mmap.Config{})
	defer as.Close()
	_, err := as.Mmap(0, 0, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	fmt.Println(errors.Is(err, mmap.EINVAL), err)
	_, err = as.Mmap(0x10000, mmap.PageSize, mmap.ProtRead, mmap.MapShared|mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	fmt.Println(errors.Is(err, mmap.EINVAL))
	addr, _ := as.Mmap(0x100000, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixed, nil, 0)
	_, err = as.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixedNoreplace, nil, 0)
	fmt.Println(err)
	// Output:
	// true invalid argument
	// true
	// file exists
}

// /proc/pid/maps of a process with a file mapping and anonymous memory,
// after an mprotect split one VMA in three.
func ExampleAddressSpace_WriteMaps() {
	as, _ := mmap.New(mmap.Config{})
	defer as.Close()
	f := mmap.NewFile("/data/file", make([]byte, 3*mmap.PageSize), mmap.FileOptions{})
	_, _ = as.Mmap(0x400000, 3*mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	addr, _ := as.Mmap(0x500000, 3*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	_ = as.Mprotect(addr+mmap.PageSize, mmap.PageSize, mmap.ProtRead)
	var buf strings.Builder
	_ = as.WriteMaps(&buf)
	// Anonymous lines end in a space, as on Linux; gofmt would strip it
	// from the expected output below, so the example trims it.
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Println(strings.TrimRight(line, " "))
	}
	// Output:
	// 00400000-00403000 r--s 00000000 00:00 1                                  /data/file
	// 00500000-00501000 rw-p 00000000 00:00 0
	// 00501000-00502000 r--p 00000000 00:00 0
	// 00502000-00503000 rw-p 00000000 00:00 0
}

// A store just below a MAP_GROWSDOWN mapping grows it, as a stack grows;
// below the stack's RLIMIT_STACK (Config.StackLimit) the store faults.
func ExampleThread_stackGrowth() {
	as, _ := mmap.New(mmap.Config{StackLimit: 4 * mmap.PageSize})
	defer as.Close()
	th := as.NewThread()
	defer th.Close()
	const top = 0x7ff000000000
	s, _ := as.Mmap(top-mmap.PageSize, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite,
		mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixed|mmap.MapGrowsDown, nil, 0)
	fmt.Println(th.WriteUint64(s-3*mmap.PageSize, 1))
	m := as.Mappings()[0]
	fmt.Printf("%#x-%#x\n", m.Start, m.End)
	fmt.Println(th.WriteUint64(s-4*mmap.PageSize, 1))
	// Output:
	// <nil>
	// 0x7fefffffc000-0x7ff000000000
	// SIGSEGV (SEGV_MAPERR) at 0x7fefffffb000
}

// MAP_LOCKED mappings count against RLIMIT_MEMLOCK (Config.MemlockLimit)
// all together; two adjacent locked mappings merge, and locked memory
// refuses MADV_DONTNEED.
func ExampleAddressSpace_Mmap_locked() {
	as, _ := mmap.New(mmap.Config{MemlockLimit: 4 * mmap.PageSize})
	defer as.Close()
	const rw, locked = mmap.ProtRead | mmap.ProtWrite, mmap.MapPrivate | mmap.MapAnonymous | mmap.MapLocked
	a, err := as.Mmap(0, 3*mmap.PageSize, rw, locked, nil, 0)
	fmt.Println(err)
	_, err = as.Mmap(0, 2*mmap.PageSize, rw, locked, nil, 0)
	fmt.Println(err)
	_, err = as.Mmap(a-mmap.PageSize, mmap.PageSize, rw, locked|mmap.MapFixed, nil, 0)
	fmt.Println(err, len(as.Mappings()))
	fmt.Println(as.Madvise(a, mmap.PageSize, mmap.MadvDontneed))
	// Output:
	// <nil>
	// resource temporarily unavailable
	// <nil> 1
	// invalid argument
}

// Fork shares private pages copy-on-write: after the fork each side's
// writes are its own; the first write copies the page, and once the
// other side has its own copy the last holder reuses the page in place.
func ExampleAddressSpace_Fork() {
	parent, _ := mmap.New(mmap.Config{})
	defer parent.Close()
	pt := parent.NewThread()
	defer pt.Close()
	addr, _ := pt.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	_ = pt.WriteUint64(addr, 1)

	child, _ := pt.Fork()
	defer child.Close()
	ct := child.NewThread()
	defer ct.Close()
	_ = ct.WriteUint64(addr, 2) // the child copies the page
	_ = pt.WriteUint64(addr, 3) // the parent's is its own again: reused
	p, _ := pt.ReadUint64(addr)
	c, _ := ct.ReadUint64(addr)
	fmt.Println("parent", p, "child", c)
	fmt.Println("copies", child.Stats().CopyOnWrite, "reuses", parent.Stats().Pgreuse)
	fmt.Println(parent.Check(), child.Check())
	// Output:
	// parent 3 child 2
	// copies 1 reuses 1
	// <nil> <nil>
}
