package trace

import (
	"strconv"
	"strings"
)

// Event is one thing that happened on one track. Which fields carry meaning
// depends on Kind (see the Kind constants); the rest are zero.
//
// Event is a plain value: once emitted, the recorder keeps its own copy, so a
// caller may reuse its variable.
type Event struct {
	Time   int64  // nanoseconds since the Recorder started (monotonic); stamped by Emit
	Track  int    // index of the Buffer that recorded it (its position in Recorder.Tracks); stamped by Emit
	Kind   Kind   // what happened
	Name   string // syscall name, for SyscallBegin and SyscallEnd
	Addr   uint64 // virtual address
	Len    uint64 // length in bytes (Zap, ShootdownBegin)
	Value  uint64 // result, frame number, tree version or memory contents
	Target int    // thread id a shootdown is aimed at, or -1 for all
	Arg    string // kind-specific text: syscall arguments, VMA, reason, signal
	Err    string // errno or signal text when the operation failed; "" otherwise
}

// hex formats v the way /proc and strace do: 0x followed by lower-case
// digits.
func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// String returns a one-line, human description of e, in the style of strace
// where one exists ("mmap(NULL, 4096, ...)", "mmap = 0x7ffff7ff0000",
// "munmap = -1 EINVAL"). Control characters are replaced by spaces so that
// the result is always a single line. It is what WriteText prints and what
// the SVG shows when you hover over a mark.
func (e Event) String() string {
	return oneLine(e.describe())
}

// describe builds the description; String sanitises it.
func (e Event) describe() string {
	withWhy := func(s, why string) string {
		if why == "" {
			return s
		}
		return s + ": " + why
	}
	switch e.Kind {
	case SyscallBegin:
		return e.Name + "(" + e.Arg + ")"
	case SyscallEnd:
		if e.Err != "" {
			return e.Name + " = -1 " + e.Err
		}
		if e.Value == 0 {
			return e.Name + " = 0" // as strace prints a plain success
		}
		return e.Name + " = " + hex(e.Value)
	case FaultBegin:
		if e.Arg == "" {
			return "fault " + hex(e.Addr)
		}
		return "fault " + e.Arg + " " + hex(e.Addr)
	case FaultEnd:
		if e.Err != "" {
			return "fault " + hex(e.Addr) + ": " + e.Err
		}
		return "fault done " + hex(e.Addr)
	case Lookup:
		vma := e.Arg
		if vma == "" {
			vma = "none"
		}
		return "lookup " + hex(e.Addr) + " -> " + vma + " v" + strconv.FormatUint(e.Value, 10)
	case FastPath:
		return "fast path " + hex(e.Addr)
	case SlowPath:
		return "slow path " + hex(e.Addr)
	case Retry:
		return withWhy("retry "+hex(e.Addr), e.Arg)
	case Fallback:
		return withWhy("fallback to mmap lock "+hex(e.Addr), e.Arg)
	case Install:
		return "install " + hex(e.Addr) + " pfn " + strconv.FormatUint(e.Value, 10)
	case Zap:
		return "zap " + hex(e.Addr) + "-" + hex(e.Addr+e.Len)
	case ShootdownBegin:
		who := "all"
		if e.Target >= 0 {
			who = "thread " + strconv.Itoa(e.Target)
		}
		return "shootdown " + hex(e.Addr) + "-" + hex(e.Addr+e.Len) + " -> " + who
	case ShootdownEnd:
		return "shootdown done"
	case GraceBegin:
		return "grace period"
	case GraceEnd:
		return "grace period done"
	case FreeVMA:
		return "free vma " + e.Arg
	case FreeFrame:
		return "free pfn " + strconv.FormatUint(e.Value, 10)
	case Load:
		if e.Err != "" {
			return "load " + hex(e.Addr) + ": " + e.Err
		}
		return "load " + hex(e.Addr) + " -> " + hex(e.Value)
	case Store:
		if e.Err != "" {
			return "store " + hex(e.Addr) + ": " + e.Err
		}
		return "store " + hex(e.Addr) + " <- " + hex(e.Value)
	case Signal:
		return e.Arg + " at " + hex(e.Addr)
	case Publish:
		return withWhy("publish v"+strconv.FormatUint(e.Value, 10), e.Arg)
	case Note:
		return e.Arg
	case Point:
		return "· " + e.Arg
	}
	return e.Kind.String() + " " + hex(e.Addr) + " " + e.Arg
}

// oneLine replaces control characters (newlines, tabs, ...) by spaces so a
// description never breaks a text column or an SVG label.
func oneLine(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
