package main

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

// TestFastAndSlowPath checks what the example exists to show: warm, the
// Fault-only backing takes one slow-path fault per page under every
// policy, while the PageMapper backing maps sixteen pages per fault and,
// under rcu-refcount, takes all its faults on the fast path; every page
// read holds what the device put there (run fails otherwise), and Check
// passes.
func TestFastAndSlowPath(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-pages", "64"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	row := regexp.MustCompile(`(?m)^  (ops-only|mapper) +(cold|warm) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +\S+ +\S+ +\S+ +\S+$`)
	sections := strings.Split(got, "\npolicy ")[1:]
	if len(sections) != 3 {
		t.Fatalf("%d policy sections, want 3", len(sections))
	}
	for _, sec := range sections {
		policy := strings.Fields(sec)[0]
		rows := row.FindAllStringSubmatch(sec, -1)
		if len(rows) != 4 {
			t.Errorf("%s: %d table rows, want 4", policy, len(rows))
			continue
		}
		num := func(r []string, i int) int { n, _ := strconv.Atoi(r[i]); return n }
		for _, r := range rows {
			backing, pass := r[1], r[2]
			reads, faults, fast, slow, major := num(r, 3), num(r, 4), num(r, 5), num(r, 6), num(r, 8)
			switch {
			case pass == "cold" && (faults != reads || major != reads):
				t.Errorf("%s %s cold: %d faults, %d major for %d pages; want one major fault per page", policy, backing, faults, major, reads)
			case pass == "warm" && backing == "ops-only" && (faults != reads || slow != reads || fast != 0):
				t.Errorf("%s ops-only warm: %d faults (%d fast, %d slow), want %d slow", policy, faults, fast, slow, reads)
			case pass == "warm" && backing == "mapper" && faults > reads/16+1:
				t.Errorf("%s mapper warm: %d faults for %d pages; fault-around should map 16 per fault", policy, faults, reads)
			case pass == "warm" && backing == "mapper" && policy == "rcu-refcount" && fast != faults:
				t.Errorf("rcu-refcount mapper warm: %d of %d faults on the fast path, want all", fast, faults)
			}
		}
		if !strings.Contains(sec, "  Check: OK\n") {
			t.Errorf("%s: Check did not pass", policy)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-pages", "0"}, {"-policy", "x"}, {"-latency", "-1s"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestDeviceServesOneAddressSpace: each address space has physical memory
// of its own, so a device that keeps pages serves the address space whose
// frames it first drew from; another address space mapping it gets
// SIGBUS, never that one's frames (which its own pool would take for
// free frames).
func TestDeviceServesOneAddressSpace(t *testing.T) {
	for _, b := range []mmap.Backing{newDevice("/dev/a", 4, 0), mapper{newDevice("/dev/b", 4, 0)}} {
		var addrs [2]uint64
		var spaces [2]*mmap.AddressSpace
		for i := range spaces {
			as, err := mmap.New(mmap.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer as.Close()
			if addrs[i], err = as.MmapBacking(0, 4*mmap.PageSize, mmap.ProtRead, mmap.MapShared, b, 0); err != nil {
				t.Fatal(err)
			}
			spaces[i] = as
		}
		for i, as := range spaces {
			th := as.NewThread()
			v, err := th.ReadUint64(addrs[i])
			th.Close()
			var se *mmap.SignalError
			switch {
			case i == 0 && (err != nil || v != magic):
				t.Errorf("%s: the first address space read %#x, %v", b.Name(), v, err)
			case i == 1 && !(errors.As(err, &se) && se.Signo == mmap.SIGBUS):
				t.Errorf("%s: the second address space read %#x, %v; want SIGBUS", b.Name(), v, err)
			}
			if err := as.Check(); err != nil {
				t.Errorf("%s: %v", b.Name(), err)
			}
		}
	}
}
