package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPolicies checks what each policy must show: the sleeping fault
// loses the race and T gets SIGSEGV after munmap returned — under
// rcu-refcount because its install is refused, under the lock-based
// policies because the fault dropped its lock for the disk read and its
// retry finds no VMA; under all three no PTE survives the munmap (Check)
// and T's next read faults.
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
		// Under the lock-holding policies the fault drops its lock for the
		// disk read (maybe_unlock_mmap_for_io), so munmap does not wait;
		// the retry takes the mmap lock and finds no VMA.
		regexp.MustCompile(`(?m)^verdict mmap-lock: munmap returned after \S+ without waiting for the sleeping fault; ` +
			`the fault lost the race — it dropped the mmap lock for the disk read and asked to be retried \(maybe_unlock_mmap_for_io\), took the mmap lock again, found no VMA — ` +
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`),
		regexp.MustCompile(`(?m)^verdict per-vma-lock: munmap returned after \S+ without waiting for the sleeping fault; ` +
			`the fault lost the race — it dropped the VMA's read lock for the disk read and asked to be retried \(maybe_unlock_mmap_for_io\), fell back to the mmap lock, found no VMA — ` +
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`),
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
