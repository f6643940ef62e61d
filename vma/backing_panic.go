package vma

import (
	"fmt"
	"runtime/debug"
)

// A BackingPanic is a panic raised by a Backing method that the VMA's
// owner absorbed instead of letting it unwind through a writer's
// transaction (see SetBackingPanic) or through the goroutine that frees
// VMAs (see CloseBacking). It records what the backing panicked with and
// where. A BackingPanic is immutable once made.
type BackingPanic struct {
	Backing string // the backing's dynamic type, as %T prints it
	Method  string // "Open" or "Close"
	Value   any    // what the backing panicked with
	Stack   []byte // the goroutine's stack when it panicked
}

// Error describes the panic: which backing, which method, with what.
func (p *BackingPanic) Error() string {
	return fmt.Sprintf("vma: backing %s: %s panicked: %v", p.Backing, p.Method, p.Value)
}

// Unwrap returns the value the backing panicked with, if it is an error.
func (p *BackingPanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// recoverBacking turns a panic raised by method of b, if any, into a
// BackingPanic. It must be called directly by a deferred function.
func recoverBacking(b Backing, method string, value any) *BackingPanic {
	if value == nil {
		return nil
	}
	return &BackingPanic{Backing: fmt.Sprintf("%T", b), Method: method, Value: value, Stack: debug.Stack()}
}

// SetBackingPanic sets the function that receives a panic raised by v's
// Backing when Copy or Slice build a copy of v (in Open) or when Discard
// drops v (in Close), in place of the panic unwinding through the caller.
// Linux's vm_ops->open and ->close cannot fail, and a writer calls them
// in the middle of a transaction; the owner can absorb such a panic, let
// the transaction finish whole, and raise it afterwards. The copy is
// built all the same. Copies inherit f. Without f (the default) the
// panic unwinds.
//
// Preconditions: v is not yet inserted (only the builder holds it).
func (v *VMA) SetBackingPanic(f func(*BackingPanic)) {
	v.checkLive()
	if v.state != stateNew {
		panic(fmt.Sprintf("vma: SetBackingPanic on inserted %v", v))
	}
	v.backingPanic = f
}

// openBacking calls Backing.Open on v, which is being built, handing a
// panic to v's backing-panic func if it has one.
func (v *VMA) openBacking() {
	if v.Backing == nil {
		return
	}
	if v.backingPanic == nil {
		v.Backing.Open(v)
		return
	}
	defer func() {
		if p := recoverBacking(v.Backing, "Open", recover()); p != nil {
			v.backingPanic(p)
		}
	}()
	v.Backing.Open(v)
}

// CloseBacking calls Backing.Close on v (nothing if v has no backing) and
// returns the panic it raised, as a BackingPanic, or nil. The owner calls
// it once per VMA, from the free that follows its grace period; Discard
// calls it for VMAs never published.
func (v *VMA) CloseBacking() (p *BackingPanic) {
	v.checkLive()
	b := v.Backing
	if b == nil {
		return nil
	}
	defer func() { p = recoverBacking(b, "Close", recover()) }()
	b.Close(v)
	return nil
}
