package trace

// scenario records a small but awkward trace with a fake clock: a shared
// syscall track where mmap and munmap interleave (crossing slices), a
// shootdown nested in munmap, a fault that never ends (unfinished), an End
// with no Begin (unmatched), loads of old and new values, a failed load,
// and names and arguments full of characters that need escaping.
func scenario() *Recorder {
	r := NewRecorderWithClock(stepClock(750))
	sys := r.SharedTrack("syscalls")
	a := r.Track(`thread <1> & "quoted"`)
	b := r.Track("thread 2 with a rather long name indeed")
	sys.Emit(Event{Kind: SyscallBegin, Name: "mmap", Arg: "NULL, 8192, PROT_READ, MAP_SHARED"})
	a.Emit(Event{Kind: FaultBegin, Addr: 0x1000, Arg: "read"})
	a.Emit(Event{Kind: Lookup, Addr: 0x1000, Arg: "1000-3000 r--s", Value: 4})
	sys.Emit(Event{Kind: SyscallBegin, Name: "munmap", Arg: "0x1000, 4096 </svg>"})
	sys.Emit(Event{Kind: SyscallEnd, Name: "mmap", Value: 0x1000})
	sys.Emit(Event{Kind: ShootdownBegin, Addr: 0x1000, Len: 4096, Target: -1})
	b.Emit(Event{Kind: Load, Addr: 0x1000, Value: 1})
	b.Emit(Event{Kind: Load, Addr: 0x1000, Value: 2})
	b.Emit(Event{Kind: Store, Addr: 0x1000, Value: 2})
	b.Emit(Event{Kind: Load, Addr: 0x1000, Value: 1})
	b.Emit(Event{Kind: Load, Addr: 0x1000, Err: "SIGSEGV SEGV_MAPERR"})
	b.Emit(Event{Kind: Signal, Addr: 0x1000, Arg: "SIGSEGV SEGV_MAPERR"})
	sys.Emit(Event{Kind: ShootdownEnd})
	sys.Emit(Event{Kind: SyscallEnd, Name: "munmap"})
	a.Emit(Event{Kind: Install, Addr: 0x1000, Value: 3})
	a.Emit(Event{Kind: GraceEnd})
	sys.Emit(Event{Kind: GraceBegin})
	sys.Emit(Event{Kind: GraceEnd})
	sys.Emit(Event{Kind: FreeVMA, Arg: "1000-3000 r--s"})
	sys.Emit(Event{Kind: Note, Arg: "round 2 \x00 <&>"})
	return r
}
