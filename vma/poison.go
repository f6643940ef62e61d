package vma

import "fmt"

// PoisonAddr is the value Poison stores in Start, End and Pgoff: far outside
// the user address space, so that an address computed from a freed VMA is
// obviously wrong.
const PoisonAddr uint64 = 0xdead_0000_0000_0000

// Poison marks v freed (Linux's vm_area_free, plus the poisoning a
// use-after-free checker would do): it sets Start, End and Pgoff to
// PoisonAddr, Prot and Flags to 0, Backing to a backing whose every method
// panics, Private to a marker, drops the release func, and marks v
// poisoned. From then on every method of v except String and Poisoned
// panics with "vma: use after free"; tests rely on this to catch
// use-after-free.
//
// Poison writes plain fields that readers read without locks, so it must
// only be called after a grace period has passed since v became
// unreachable (detached, released, and removed from every published
// snapshot): the grace period orders every reader's reads before these
// writes, which keeps -race quiet. A reader that breaks that rule is
// caught either by the panic or, if it races, by the race detector.
// Poisoning a VMA that is attached or still referenced panics, as does
// poisoning it twice.
func (v *VMA) Poison() {
	if v.poisoned.Load() {
		panic("vma: double free of a VMA")
	}
	if r := v.ref.Load(); r != 0 && r != refDetached {
		panic(fmt.Sprintf("vma: Poison of live %v (refcount %#x)", v, r))
	}
	if v.state == stateInserted || v.state == stateAttached || v.state == stateRemoved {
		panic(fmt.Sprintf("vma: Poison of %v still in a tree", v))
	}
	v.Start, v.End, v.Pgoff = PoisonAddr, PoisonAddr, PoisonAddr
	v.Prot, v.Flags = 0, 0
	v.Backing = freedBacking{}
	v.Private = freed{}
	v.release = nil
	v.poisoned.Store(true)
}

// Poisoned reports whether Poison has been called on v. It never panics.
// Atomic; safe for concurrent use.
func (v *VMA) Poisoned() bool { return v.poisoned.Load() }

// Discard disposes of a VMA that was built (New, Copy, Slice) but never
// published, for example when a syscall fails after building it: it calls
// Backing.Close (pairing the Open done at construction; a panic goes to
// the backing-panic func, if v has one) and Poison. No
// grace period is needed, since no reader can have seen v. It panics if v
// is in a tree.
//
// Preconditions: only the caller holds v (it is unattached and was never
// inserted, or only by an aborted Txn).
func (v *VMA) Discard() {
	v.checkLive()
	if v.state != stateNew || v.ref.Load() != 0 {
		panic(fmt.Sprintf("vma: Discard of %v, which is or was in a tree", v))
	}
	switch {
	case v.backingPanic != nil:
		if p := v.CloseBacking(); p != nil {
			v.backingPanic(p)
		}
	case v.Backing != nil:
		v.Backing.Close(v)
	}
	v.Poison()
}

// checkLive panics if v has been poisoned. It is small enough to inline
// into every accessor.
func (v *VMA) checkLive() {
	if v.poisoned.Load() {
		useAfterFree()
	}
}

func useAfterFree() { panic("vma: use after free") }

// freed is the value of a poisoned VMA's Private.
type freed struct{}

// freedBacking is the Backing of a poisoned VMA: every method panics.
type freedBacking struct{}

func (freedBacking) Name() string { useAfterFree(); return "" }
func (freedBacking) Open(*VMA)    { useAfterFree() }
func (freedBacking) Close(*VMA)   { useAfterFree() }
