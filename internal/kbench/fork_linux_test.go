//go:build linux && (amd64 || arm64)

package kbench

import "testing"

// TestForkCopiesOnWrite: a held child keeps the parent's pages shared, so
// the parent's first write to each touched page is a copy-on-write fault
// (one minor fault per page); a released child exits and is reaped.
func TestForkCopiesOnWrite(t *testing.T) {
	r, err := MapRegion(8*PageSize, ProtRead|ProtWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Unmap()
	for i := range r.Pages() {
		r.WritePage(i, 1)
	}
	for _, hold := range []bool{false, true} {
		c, took, err := Fork(hold)
		if err != nil {
			t.Fatal(err)
		}
		if took <= 0 {
			t.Errorf("fork took %v", took)
		}
		if hold {
			before, _, _ := ThreadFaults()
			for i := range r.Pages() {
				r.WritePage(i, 2)
			}
			after, _, _ := ThreadFaults()
			if after-before < int64(r.Pages()) {
				t.Errorf("%d faults for %d writes to pages shared with a held child, want one each", after-before, r.Pages())
			}
		}
		if err := c.Release(); err != nil {
			t.Fatal(err)
		}
	}
}
