package mmap

import "fmt"

// Signal is a signal number delivered for a bad access.
type Signal int

// Signals a memory access can raise (x86-64 numbers).
const (
	SIGBUS  Signal = 7
	SIGSEGV Signal = 11
)

// String returns the signal's name.
func (s Signal) String() string {
	switch s {
	case SIGBUS:
		return "SIGBUS"
	case SIGSEGV:
		return "SIGSEGV"
	}
	return fmt.Sprintf("signal %d", int(s))
}

// SigCode is the si_code of a memory-access signal.
type SigCode int

// si_code values (include/uapi/asm-generic/siginfo.h).
const (
	SegvMaperr SigCode = 1 // SEGV_MAPERR: no mapping at the address
	SegvAccerr SigCode = 2 // SEGV_ACCERR: the mapping forbids the access
	BusAdrerr  SigCode = 2 // BUS_ADRERR: the page lies beyond the end of its file
)

// SignalError is the error a Thread's access returns when the simulated
// CPU would deliver a signal. errors.As finds it.
type SignalError struct {
	Signo Signal
	Code  SigCode
	Addr  uint64 // the faulting address, as si_addr
}

// Error describes the signal the way a crash report would:
// "SIGSEGV (SEGV_MAPERR) at 0x7f0000000000".
func (e *SignalError) Error() string {
	return fmt.Sprintf("%v (%s) at %#x", e.Signo, e.codeName(), e.Addr)
}

func (e *SignalError) codeName() string {
	switch {
	case e.Signo == SIGSEGV && e.Code == SegvMaperr:
		return "SEGV_MAPERR"
	case e.Signo == SIGSEGV && e.Code == SegvAccerr:
		return "SEGV_ACCERR"
	case e.Signo == SIGBUS && e.Code == BusAdrerr:
		return "BUS_ADRERR"
	}
	return fmt.Sprintf("code %d", int(e.Code))
}
