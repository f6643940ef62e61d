package fault

import "fmt"

// A ContractError ends a fault whose backing broke the contract of Ops or
// PageMapper: it names the backing and what it did. The handler checks
// what it can at once (a Fault that succeeds without a page, or after
// releasing its lock for I/O); a backing that keeps reporting the page
// mapped while no PTE maps it is caught by the faulting thread after a
// bounded number of faults. A ContractError is immutable once made.
type ContractError struct {
	Backing string // the backing's Name
	Addr    uint64 // the faulting address
	Broke   string // what the backing did
}

// Error describes the violation.
func (e *ContractError) Error() string {
	return fmt.Sprintf("fault: backing %q broke its contract at %#x: %s", e.Backing, e.Addr, e.Broke)
}

// broken is the Result of a fault whose backing broke its contract: an
// error, internal to the handler, which becomes BackingBroken.
const broken Result = 1 << 31

// broke records that vf's backing broke its contract and returns the
// Result that ends the fault.
func (vf *VMFault) broke(what string) Result {
	vf.ctx.broken = &ContractError{Backing: vf.backing.Name(), Addr: vf.Address, Broke: what}
	return broken
}

// Broken returns how the backing broke its contract in the last fault
// that ended in BackingBroken.
func (ctx *Context) Broken() *ContractError { return ctx.broken }
