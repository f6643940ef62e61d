//go:build linux && (amd64 || arm64)

package kbench

import (
	"syscall"
	"time"
	"unsafe"
)

// A Child is a process made by Fork: a copy of the test process that runs
// no Go code at all, only the system calls of rawFork, and exits with
// exit_group as soon as it is released.
//
// Concurrency: Release must be called once, by the goroutine that forked.
type Child struct {
	pid  int
	hold int // the write end of the pipe the child waits on, or -1
}

// forkByte is where a held child reads its release byte (into its own
// copy of the variable).
var forkByte [8]byte

// Fork forks the test process with a raw fork(2) and returns the child
// and the time the fork system call took in the parent. The child runs
// no Go code: with hold false it calls exit_group at once; with hold true
// it first waits for Release (a blocking read of a pipe), so that the
// parent's pages stay shared with it meanwhile and a write to one of
// them copies it. The child's copy of the process is never touched by Go
// code, so the runtime's state (its other threads, locks, the race
// detector) does not matter there.
func Fork(hold bool) (*Child, time.Duration, error) {
	c := &Child{hold: -1}
	readFD, writeFD := ^uintptr(0), ^uintptr(0)
	if hold {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, 0, err
		}
		readFD, writeFD, c.hold = uintptr(p[0]), uintptr(p[1]), p[1]
		defer syscall.Close(p[0])
	}
	start := time.Now()
	pid, errno := rawFork(readFD, writeFD, uintptr(unsafe.Pointer(&forkByte[0])))
	took := time.Since(start)
	if errno != 0 {
		if c.hold >= 0 {
			syscall.Close(c.hold)
		}
		return nil, 0, errno
	}
	c.pid = int(pid)
	return c, took, nil
}

// rawFork is fork(2) followed, in the child, by the close of its copy of
// writeFD and the read of one byte from readFD (unless it is ^0), which
// returns when the parent closes the pipe, and exit_group(0). It is nosplit and
// norace, and calls only RawSyscall (nosplit and norace too), so the
// child runs no code that could grow a stack, take a runtime lock,
// allocate or report to the race detector.
//
//go:nosplit
//go:norace
func rawFork(readFD, writeFD, buf uintptr) (uintptr, syscall.Errno) {
	// clone(SIGCHLD) is fork(2) on every architecture (arm64 has no
	// fork system call); with no other flag its argument order does
	// not matter.
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		if readFD != ^uintptr(0) {
			syscall.RawSyscall(syscall.SYS_CLOSE, writeFD, 0, 0)
			syscall.RawSyscall(syscall.SYS_READ, readFD, buf, 1)
		}
		for {
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	return pid, 0
}

// Release lets a held child exit and waits for it; for a child that was
// not held it only waits.
func (c *Child) Release() error {
	if c.hold >= 0 {
		syscall.Close(c.hold) // the child's read returns 0: it exits
		c.hold = -1
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(c.pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return err
		}
	}
}
