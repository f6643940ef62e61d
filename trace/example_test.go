package trace_test

import (
	"os"
	"sync/atomic"

	"github.com/vmsim/vmsim/trace"
)

// A thread faults in a page that a syscall has just mapped, and stores to
// it. The fake clock (each reading 1.5 µs after the previous one) makes the
// output reproducible; a real program uses trace.NewRecorder.
func Example() {
	var now atomic.Int64
	r := trace.NewRecorderWithClock(func() int64 { return now.Add(1500) - 1500 })
	sys := r.SharedTrack("syscalls")
	t1 := r.Track("thread 1")

	const addr = 0x7ffff7ff0000
	sys.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "mmap", Arg: "NULL, 4096, RW, PRIVATE|ANONYMOUS"})
	sys.Emit(trace.Event{Kind: trace.SyscallEnd, Name: "mmap", Value: addr})
	t1.Emit(trace.Event{Kind: trace.FaultBegin, Addr: addr, Arg: "write"})
	t1.Emit(trace.Event{Kind: trace.Lookup, Addr: addr, Arg: "7ffff7ff0000-7ffff7ff1000 rw-p", Value: 2})
	t1.Emit(trace.Event{Kind: trace.FastPath, Addr: addr})
	t1.Emit(trace.Event{Kind: trace.Install, Addr: addr, Value: 17})
	t1.Emit(trace.Event{Kind: trace.FaultEnd, Addr: addr})
	t1.Emit(trace.Event{Kind: trace.Store, Addr: addr, Value: 42})
	sys.Emit(trace.Event{Kind: trace.SyscallBegin, Name: "munmap", Arg: "0x1, 4096"})
	sys.Emit(trace.Event{Kind: trace.SyscallEnd, Name: "munmap", Err: "EINVAL"})

	var off *trace.Buffer // tracing off: a nil track records nothing
	off.Emit(trace.Event{Kind: trace.Note, Arg: "never recorded"})

	if err := trace.WriteText(os.Stdout, r, trace.TextOptions{Width: 40}); err != nil {
		panic(err)
	}
	// Output:
	//     µs  syscalls                                thread 1
	//         --------------------------------------- ---------------------------------------
	//  0.000  mmap(NULL, 4096, RW, PRIVATE|ANONYMOUS)
	//  1.500  mmap = 0x7ffff7ff0000
	//  3.000                                          fault write 0x7ffff7ff0000
	//  4.500                                          lookup 0x7ffff7ff0000 -> 7ffff7ff0000-7ffff7ff1000 rw-p v2
	//  6.000                                          fast path 0x7ffff7ff0000
	//  7.500                                          install 0x7ffff7ff0000 pfn 17
	//  9.000                                          fault done 0x7ffff7ff0000
	// 10.500                                          store 0x7ffff7ff0000 <- 0x2a
	// 12.000  munmap(0x1, 4096)
	// 13.500  munmap = -1 EINVAL
}
