package trace

import (
	"strings"
	"testing"
)

func TestKindStringEveryKind(t *testing.T) {
	want := map[Kind]string{
		SyscallBegin: "SyscallBegin", SyscallEnd: "SyscallEnd", FaultBegin: "FaultBegin",
		FaultEnd: "FaultEnd", Lookup: "Lookup", FastPath: "FastPath", SlowPath: "SlowPath",
		Retry: "Retry", Fallback: "Fallback", Install: "Install", Zap: "Zap",
		ShootdownBegin: "ShootdownBegin", ShootdownEnd: "ShootdownEnd",
		GraceBegin: "GraceBegin", GraceEnd: "GraceEnd", FreeVMA: "FreeVMA",
		FreeFrame: "FreeFrame", Load: "Load", Store: "Store", Signal: "Signal",
		Publish: "Publish", Note: "Note", Point: "Point",
	}
	if len(want) != int(numKinds)-1 {
		t.Fatalf("test covers %d kinds, package has %d", len(want), numKinds-1)
	}
	for k := SyscallBegin; k < numKinds; k++ {
		if got := k.String(); got != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want[k])
		}
	}
	for _, k := range []Kind{0, numKinds, 255} {
		if got := k.String(); !strings.HasPrefix(got, "Kind(") {
			t.Errorf("unknown Kind(%d).String() = %q, want Kind(N)", uint8(k), got)
		}
	}
}

func TestBeginEndPairs(t *testing.T) {
	for k := SyscallBegin; k < numKinds; k++ {
		if b, ok := k.beginOf(); ok && (!b.isBegin() || b+1 != k) {
			t.Errorf("%v closes %v, which is not the Begin just before it", k, b)
		}
		if k.isBegin() && !isEnd(k+1) {
			t.Errorf("%v is not followed by its End", k)
		}
	}
}

func TestEventString(t *testing.T) {
	for _, c := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: SyscallBegin, Name: "mmap", Arg: "NULL, 4096"}, "mmap(NULL, 4096)"},
		{Event{Kind: SyscallEnd, Name: "mmap", Value: 0x7ffff7ff0000}, "mmap = 0x7ffff7ff0000"},
		{Event{Kind: SyscallEnd, Name: "munmap"}, "munmap = 0"},
		{Event{Kind: SyscallEnd, Name: "munmap", Err: "EINVAL"}, "munmap = -1 EINVAL"},
		{Event{Kind: FaultBegin, Addr: 0x1000, Arg: "write"}, "fault write 0x1000"},
		{Event{Kind: FaultEnd, Addr: 0x1000, Err: "SIGSEGV"}, "fault 0x1000: SIGSEGV"},
		{Event{Kind: Lookup, Addr: 0x1000, Value: 3}, "lookup 0x1000 -> none v3"},
		{Event{Kind: Install, Addr: 0x1000, Value: 9}, "install 0x1000 pfn 9"},
		{Event{Kind: Zap, Addr: 0x1000, Len: 0x2000}, "zap 0x1000-0x3000"},
		{Event{Kind: ShootdownBegin, Addr: 0x1000, Len: 0x1000, Target: -1}, "shootdown 0x1000-0x2000 -> all"},
		{Event{Kind: ShootdownBegin, Addr: 0x1000, Len: 0x1000, Target: 2}, "shootdown 0x1000-0x2000 -> thread 2"},
		{Event{Kind: Load, Addr: 0x1000, Value: 42}, "load 0x1000 -> 0x2a"},
		{Event{Kind: Load, Addr: 0x1000, Err: "SIGSEGV SEGV_MAPERR"}, "load 0x1000: SIGSEGV SEGV_MAPERR"},
		{Event{Kind: Store, Addr: 0x1000, Value: 42}, "store 0x1000 <- 0x2a"},
		{Event{Kind: Retry, Addr: 0x1000, Arg: "detached"}, "retry 0x1000: detached"},
		{Event{Kind: Note, Arg: "round\n3"}, "round 3"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%v event: String() = %q, want %q", c.e.Kind, got, c.want)
		}
	}
	for k := SyscallBegin; k < numKinds; k++ {
		s := Event{Kind: k, Name: "x\ny", Arg: "a\tb\r", Err: "e\n"}.String()
		if strings.ContainsAny(s, "\n\r\t") {
			t.Errorf("%v: String() %q contains a control character", k, s)
		}
	}
}
