package rcu

import (
	"testing"
	"unsafe"
)

func TestInSectionFollowsNesting(t *testing.T) {
	d := NewDomain()
	r := register(t, d)

	steps := []struct {
		op   func()
		name string
		want bool
	}{
		{func() {}, "registered", false},
		{r.Lock, "Lock", true},
		{r.Lock, "nested Lock", true},
		{r.Unlock, "inner Unlock", true},
		{r.Unlock, "outer Unlock", false},
		{r.Lock, "Lock again", true},
		{r.Unlock, "Unlock again", false},
	}
	for _, s := range steps {
		s.op()
		if got := r.InSection(); got != s.want {
			t.Fatalf("after %s: InSection() = %v; want %v", s.name, got, s.want)
		}
	}
}

func TestReadersCountsRegistrations(t *testing.T) {
	d := NewDomain()
	if n := d.Readers(); n != 0 {
		t.Fatalf("new domain has %d readers", n)
	}
	a, b, c := d.Register(), d.Register(), d.Register()
	if n := d.Readers(); n != 3 {
		t.Fatalf("Readers() = %d after 3 Register; want 3", n)
	}
	b.Unregister()
	if n := d.Readers(); n != 2 {
		t.Fatalf("Readers() = %d after Unregister; want 2", n)
	}
	a.Unregister()
	c.Unregister()
	if n := d.Readers(); n != 0 {
		t.Fatalf("Readers() = %d after unregistering all; want 0", n)
	}
	// Another domain's readers are its own.
	other := NewDomain()
	o := other.Register()
	if d.Readers() != 0 || other.Readers() != 1 {
		t.Fatal("domains share readers")
	}
	o.Unregister()
}

// A reader of one domain never holds back another domain's grace period.
func TestDomainsAreIndependent(t *testing.T) {
	d1, d2 := NewDomain(), NewDomain()
	r := register(t, d1)
	r.Lock()
	eventually(t, goDo(d2.Synchronize), "Synchronize on a domain the reader is not in")
	r.Unlock()
}

// An unregistered reader, even one that was never unlocked cleanly before,
// no longer takes part in grace periods.
func TestUnregisteredReaderDoesNotHoldBack(t *testing.T) {
	d := NewDomain()
	r := d.Register()
	r.Lock()
	//lint:ignore SA2001 an empty section is the point here
	r.Unlock()
	r.Unregister()
	eventually(t, goDo(d.Synchronize), "Synchronize after the only reader unregistered")
}

// A Reader owns a whole padded cache line, so readers on different CPUs
// never write to the same line (checked at compile time too).
func TestReaderSlotIsOneCacheLine(t *testing.T) {
	if s := unsafe.Sizeof(Reader{}); s != cacheLine {
		t.Fatalf("Reader is %d bytes; want %d", s, cacheLine)
	}
	d := NewDomain()
	for range 16 {
		r := d.Register()
		if a := uintptr(unsafe.Pointer(r)); a%cacheLine != 0 {
			t.Fatalf("Reader at %#x is not %d-byte aligned", a, cacheLine)
		}
		defer r.Unregister()
	}
}
