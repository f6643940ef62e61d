package main

import (
	"bytes"
	"regexp"
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
