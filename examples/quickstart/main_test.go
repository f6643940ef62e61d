package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestQuickstart checks the contract the README shows: one shared,
// read-only mapping of hello.txt in /proc/pid/maps format; every one of
// the 16 pages read from the file once, by one major fault, and mapped by
// one PTE, however the two threads interleave; and Check passing.
func TestQuickstart(t *testing.T) {
	for range 5 { // the threads interleave differently each time
		var out bytes.Buffer
		if err := run(nil, &out); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^[0-9a-f]{12}-[0-9a-f]{12} r--s 00000000 00:00 \d+ +hello\.txt$`),
			regexp.MustCompile(`(?m)^faults: \d+ \(16 major\), \d+ on the fast path, \d+ on the slow path, \d+ retries, \d+ fallbacks; 16 PTEs installed$`),
			regexp.MustCompile(`(?m)^page cache: 16 pages read from the file; waits for another fault's read: \d+$`),
			regexp.MustCompile(`(?m)^invariants: OK$`),
		} {
			if !want.MatchString(got) {
				t.Errorf("output does not match %v:\n%s", want, got)
			}
		}
	}
}

// TestQuickstartFlags: -h prints the usage and runs nothing; a bad flag
// or argument is an error; -policy picks the policy.
func TestQuickstartFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: got %v, want flag.ErrHelp", err)
	}
	if got := out.String(); !strings.Contains(got, "Usage of quickstart") || !strings.Contains(got, "-policy") || strings.Contains(got, "faults:") {
		t.Errorf("-h printed:\n%s", got)
	}
	for _, args := range [][]string{{"-nosuchflag"}, {"extra"}, {"-policy", "nosuchpolicy"}} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	out.Reset()
	if err := run([]string{"-policy", "per-vma-lock"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "policy per-vma-lock") {
		t.Errorf("-policy per-vma-lock printed:\n%s", out.String())
	}
}
