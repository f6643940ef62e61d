package trace

import "strconv"

// Kind says what an Event records. Kinds ending in Begin and End bracket a
// slice of time (a syscall, a fault, a TLB shootdown, a grace period); every
// other kind is an instant.
//
// Kind is a plain value: safe to copy and compare from any goroutine.
type Kind uint8

// The event kinds. The comment on each says which Event fields it uses.
const (
	SyscallBegin   Kind = iota + 1 // Name = "mmap"/"munmap"/...; Arg = formatted arguments
	SyscallEnd                     // Name; Value = result; Err = errno text or ""
	FaultBegin                     // Addr; Arg = "read"/"write"
	FaultEnd                       // Addr; Err = "" or signal text
	Lookup                         // Addr; Arg = VMA ("7f..-7f.. rw-p" or "none"); Value = tree version
	FastPath                       // MapPages under RCU; Addr
	SlowPath                       // Fault with a VMA reference; Addr
	Retry                          // Addr; Arg = why
	Fallback                       // took the mmap read lock; Addr; Arg = why
	Install                        // PTE installed; Addr; Value = frame number
	Zap                            // Addr, Len
	ShootdownBegin                 // Addr, Len; Target = thread id being shot down, or -1 for all
	ShootdownEnd                   // end of the shootdown begun on the same track
	GraceBegin                     // start of an RCU grace-period wait
	GraceEnd                       // the grace period has elapsed
	FreeVMA                        // Arg = VMA
	FreeFrame                      // Value = frame number
	Load                           // Addr; Value = value seen; Err = "" or signal
	Store                          // Addr; Value = value written
	Signal                         // Addr; Arg = "SIGSEGV SEGV_MAPERR" ...
	Publish                        // tree published; Value = new version; Arg = summary
	Note                           // free text in Arg (e.g. "round 3")
	Point                          // a scheduling point reached in a controlled run; Arg = its name ("tlb.hit")

	numKinds = iota + 1 // one past the last kind; keeps kindNames complete
)

// kindNames is indexed by Kind; immutable.
var kindNames = [numKinds]string{
	SyscallBegin:   "SyscallBegin",
	SyscallEnd:     "SyscallEnd",
	FaultBegin:     "FaultBegin",
	FaultEnd:       "FaultEnd",
	Lookup:         "Lookup",
	FastPath:       "FastPath",
	SlowPath:       "SlowPath",
	Retry:          "Retry",
	Fallback:       "Fallback",
	Install:        "Install",
	Zap:            "Zap",
	ShootdownBegin: "ShootdownBegin",
	ShootdownEnd:   "ShootdownEnd",
	GraceBegin:     "GraceBegin",
	GraceEnd:       "GraceEnd",
	FreeVMA:        "FreeVMA",
	FreeFrame:      "FreeFrame",
	Load:           "Load",
	Store:          "Store",
	Signal:         "Signal",
	Publish:        "Publish",
	Note:           "Note",
	Point:          "Point",
}

// String returns the constant's Go name ("SyscallBegin"), or "Kind(N)" for a
// value that is not one of the constants.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// beginOf returns the Begin kind that an End kind closes.
func (k Kind) beginOf() (Kind, bool) {
	switch k {
	case SyscallEnd:
		return SyscallBegin, true
	case FaultEnd:
		return FaultBegin, true
	case ShootdownEnd:
		return ShootdownBegin, true
	case GraceEnd:
		return GraceBegin, true
	}
	return 0, false
}

// isBegin reports whether k opens a slice.
func (k Kind) isBegin() bool {
	switch k {
	case SyscallBegin, FaultBegin, ShootdownBegin, GraceBegin:
		return true
	}
	return false
}

// category groups kinds for the Chrome "cat" field and the SVG legend.
func (k Kind) category() string {
	switch k {
	case SyscallBegin, SyscallEnd:
		return "syscall"
	case FaultBegin, FaultEnd, Lookup, FastPath, SlowPath, Retry, Fallback, Install:
		return "fault"
	case Zap, ShootdownBegin, ShootdownEnd:
		return "tlb"
	case GraceBegin, GraceEnd, FreeVMA, Publish:
		return "rcu"
	case FreeFrame:
		return "frame"
	case Load, Store, Signal:
		return "access"
	case Point:
		return "sched"
	}
	return "note"
}
