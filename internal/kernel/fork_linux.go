//go:build linux

package kernel

import (
	"bytes"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// ChildCall is one step of the program a forked child runs (Fork): a raw
// system call Nr with Args, or, for Nr ChildLoad and ChildStore, a
// one-byte read or write at Args[0] through the child's own
// /proc/self/mem (Args[1] is the byte to store), as Harness.Load and
// Harness.Store do in the parent. A plain value.
type ChildCall struct {
	Nr   uintptr
	Args [6]uintptr
}

// The pseudo system calls of a ChildCall.
const (
	ChildLoad  = ^uintptr(0)
	ChildStore = ^uintptr(1)
)

// ChildResult is what a forked child reports: each call's return value
// (the byte read, for ChildLoad) and errno, and the child's
// /proc/self/smaps entries that overlap the window, read after its last
// call. A plain value.
type ChildResult struct {
	Rets   []uintptr
	Errnos []syscall.Errno
	Smaps  []Mapping
}

// The size limits of a child's report.
const (
	maxChildCalls = 4096
	maxChildSmaps = 4 << 20
)

// childReport is the MAP_SHARED page where a child writes its results:
// plain integers and bytes only, so that the child's stores need no
// write barrier.
type childReport struct {
	done     uintptr
	smapsLen uintptr
	calls    [maxChildCalls]struct {
		ret, errno uintptr
		b          byte
	}
	smaps [maxChildSmaps]byte
}

// The paths a child opens, NUL-terminated, in memory it inherits.
var (
	procSelfMem   = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 'm', 'e', 'm', 0}
	procSelfSmaps = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 's', 'm', 'a', 'p', 's', 0}
)

// Fork forks the test process with a raw fork(2) (clone with SIGCHLD)
// and has the child run prog and report its results and its layout in
// the window, then exit; it returns once the child has exited. The child
// runs no Go code but runChild (nosplit, norace, calling only raw system
// calls, writing only integers), so the state of the parent's runtime at
// the fork (other threads, their locks, the garbage collector, the race
// detector) cannot matter: whatever the child does to its own copy of
// the address space ends with it. A call that maps or moves with
// MAP_FIXED or MREMAP_FIXED must stay inside the window, so that the
// child's program cannot replace the memory the child itself runs on;
// Fork refuses such a program before forking. A child that has not
// finished within ten seconds is killed.
func (h *Harness) Fork(prog []ChildCall) (*ChildResult, error) {
	if len(prog) > maxChildCalls {
		return nil, fmt.Errorf("kernel: a child program of %d calls (at most %d)", len(prog), maxChildCalls)
	}
	for _, c := range prog {
		if err := h.childCallOK(c); err != nil {
			return nil, err
		}
	}
	buf, err := syscall.Mmap(-1, 0, int(unsafe.Sizeof(childReport{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	defer syscall.Munmap(buf)
	rep := (*childReport)(unsafe.Pointer(&buf[0]))
	pid, errno := forkChild(prog, rep, &procSelfMem[0], &procSelfSmaps[0])
	if errno != 0 {
		return nil, errno
	}
	if err := reap(int(pid), 10*time.Second); err != nil {
		return nil, err
	}
	if rep.done != 1 {
		return nil, fmt.Errorf("kernel: the forked child exited without reporting")
	}
	res := &ChildResult{Rets: make([]uintptr, len(prog)), Errnos: make([]syscall.Errno, len(prog))}
	for i, c := range prog {
		r := rep.calls[i]
		res.Rets[i], res.Errnos[i] = r.ret, syscall.Errno(r.errno)
		if c.Nr == ChildLoad && r.errno == 0 {
			res.Rets[i] = uintptr(r.b)
		}
	}
	all, err := ParseSmaps(bytes.NewReader(rep.smaps[:rep.smapsLen]))
	if err != nil {
		return nil, err
	}
	res.Smaps = h.clip(all)
	return res, nil
}

// childCallOK refuses a call that would place memory at a fixed address
// outside the window.
func (h *Harness) childCallOK(c ChildCall) error {
	a := c.Args
	switch c.Nr {
	case syscall.SYS_MMAP:
		const fixed = 0x10 | 0x100000 // MAP_FIXED, MAP_FIXED_NOREPLACE
		if a[3]&fixed != 0 && !h.w.Contains(uint64(a[0]), pageAlign(uint64(a[1]))) {
			return &RefusedError{Call: describe("child mmap", uint64(a[0]), uint64(a[1]))}
		}
	case syscall.SYS_MREMAP:
		const fixed = 2 // MREMAP_FIXED
		if a[3]&fixed != 0 && !h.w.Contains(uint64(a[4]), pageAlign(uint64(a[2]))) {
			return &RefusedError{Call: describe("child mremap", uint64(a[4]), uint64(a[2]))}
		}
	}
	return nil
}

// forkChild forks; the child runs runChild and never returns. It is
// nosplit and norace, like everything the child runs.
//
//go:nosplit
//go:norace
func forkChild(prog []ChildCall, rep *childReport, memPath, smapsPath *byte) (uintptr, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		runChild(prog, rep, memPath, smapsPath)
	}
	return pid, 0
}

// runChild is the whole life of a forked child: the calls of prog, then
// its smaps into rep, then exit_group. It only makes raw system calls
// and stores integers into rep, which is shared memory.
//
//go:nosplit
//go:norace
func runChild(prog []ChildCall, rep *childReport, memPath, smapsPath *byte) {
	const atFDCWD = ^uintptr(99) // AT_FDCWD, -100
	mem, _, _ := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(memPath)), syscall.O_RDWR, 0, 0, 0)
	for i := range prog {
		c := &prog[i]
		r := &rep.calls[i]
		var ret uintptr
		var e syscall.Errno
		switch c.Nr {
		case ChildLoad:
			ret, _, e = syscall.RawSyscall6(syscall.SYS_PREAD64, mem, uintptr(unsafe.Pointer(&r.b)), 1, c.Args[0], 0, 0)
		case ChildStore:
			r.b = byte(c.Args[1])
			ret, _, e = syscall.RawSyscall6(syscall.SYS_PWRITE64, mem, uintptr(unsafe.Pointer(&r.b)), 1, c.Args[0], 0, 0)
		default:
			ret, _, e = syscall.RawSyscall6(c.Nr, c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5])
		}
		r.ret, r.errno = ret, uintptr(e)
	}
	fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(smapsPath)), syscall.O_RDONLY, 0, 0, 0)
	if e == 0 {
		for rep.smapsLen < maxChildSmaps {
			n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&rep.smaps[rep.smapsLen])), maxChildSmaps-rep.smapsLen)
			if e != 0 || n == 0 {
				break
			}
			rep.smapsLen += n
		}
		rep.done = 1
	}
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
}

// reap waits for the child pid to exit, killing it if it has not within
// limit.
func reap(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case got == pid:
			if !ws.Exited() || ws.ExitStatus() != 0 {
				return fmt.Errorf("kernel: the forked child ended with status %#x", uint32(ws))
			}
			return nil
		case time.Now().After(deadline):
			syscall.Kill(pid, syscall.SIGKILL)
			syscall.Wait4(pid, &ws, 0, nil)
			return fmt.Errorf("kernel: the forked child did not finish within %v", limit)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
