//go:build linux && (amd64 || arm64)

package kbench_test

import (
	"fmt"
	"runtime"

	"github.com/vmsim/vmsim/internal/kbench"
)

// Touch each page of a fresh anonymous region once and count the kernel's
// minor faults on this thread: one per page.
func Example() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := kbench.MapRegion(16*kbench.PageSize, kbench.ProtRead|kbench.ProtWrite)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Unmap()
	before, _, _ := kbench.ThreadFaults()
	for i := range r.Pages() {
		r.WritePage(i, byte(i))
	}
	after, _, _ := kbench.ThreadFaults()
	fmt.Println("pages:", r.Pages(), "at least one fault each:", after-before >= int64(r.Pages()))
	// Output: pages: 16 at least one fault each: true
}
