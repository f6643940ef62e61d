package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPolicies checks what each policy must show: under rcu-refcount the
// sleeping fault loses the race and T gets SIGSEGV after munmap returned;
// under the two lock-holding policies munmap waits for the fault; under
// all three no PTE survives the munmap (Check) and T's next read faults.
// The latency is long so that a busy machine still has U unmap while T
// sleeps.
func TestPolicies(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "munmap.json")
	var out bytes.Buffer
	if err := run([]string{"-latency", "20ms", "-delay", "2ms", "-rounds", "1", "-trace", jsonPath}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^verdict rcu-refcount: munmap returned after \S+ without waiting for the sleeping fault; ` +
			`the fault lost the race — its install was refused \(the VMA was detached\), it retried, fell back to the mmap lock, found no VMA — ` +
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`),
		// Under the lock-holding policies munmap waits for the fault; T's
		// load then either reads the page or, if munmap zapped the new
		// PTE before the load retried, faults again and gets SIGSEGV.
		regexp.MustCompile(`(?m)^verdict mmap-lock: munmap waited \S+ for the fault, which held the mmap lock across the disk read; ` +
			`(T read 0xf11e000000000005, and its next read got SIGSEGV \(SEGV_MAPERR\)|the fault installed the page, but munmap zapped it)`),
		regexp.MustCompile(`(?m)^verdict per-vma-lock: munmap waited \S+ for the fault, which held the VMA's read lock across the disk read; ` +
			`(T read 0xf11e000000000005|the fault installed the page, but munmap zapped it)`),
		regexp.MustCompile(`fallback to mmap lock 0x[0-9a-f]+: no vma`),
		regexp.MustCompile(`(?m)^\s+T  reads again: SIGSEGV \(SEGV_MAPERR\)`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %v", want)
		}
	}
	if n := strings.Count(got, "  Check: OK"); n != 3 {
		t.Errorf("Check: OK printed %d times, want 3", n)
	}
	if data, err := os.ReadFile(jsonPath); err != nil || !bytes.Contains(data, []byte(`"traceEvents"`)) {
		t.Errorf("no Chrome trace written: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-policy", "nope"},
		{"-latency", "1ms", "-delay", "2ms"},
		{"-rounds", "0"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestNoDetachCheck drops the re-check that the VMA is still attached
// before a PTE is installed: the sleeping fault's PTE outlives the
// munmap, a read begun after munmap returned still reads the page, and
// Check reports the orphan PTE.
func TestNoDetachCheck(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-policy", "rcu-refcount", "-quirks", "no-detach-check", "-latency", "20ms", "-delay", "2ms", "-rounds", "1", "-timeline=false"}
	if err := run(args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+T  reads again: 0xf11e000000000005 — through a PTE that outlived the munmap$`),
		regexp.MustCompile(`(?m)^  Check: FAILED: PTE at 0x[0-9a-f]+ .* outside any VMA`),
		regexp.MustCompile(`(?m)^verdict rcu-refcount: BROKEN — a read begun after munmap returned got 0xf11e000000000005`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %v", want)
		}
	}
}
