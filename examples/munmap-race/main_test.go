package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/internal/exampletest"
)

// TestExplore pins the outcome table within one preemption, and checks
// what every policy must show whatever the counts: with the disk read
// taking 2 ms, T's read is SIGSEGV in every schedule (munmap never waits
// for the sleeping fault), no schedule fails, and each policy's fault
// loses the race its own way.
func TestExplore(t *testing.T) {
	got := exampletest.Pinned(t, run, "testdata/preemptions-1.txt", "-preemptions", "1")
	exampletest.Match(t, got,
		`^  failed +0 +0 +0$`,
		`^  complete +yes +yes +yes$`,
		`^  SIGSEGV +1 +SIGSEGV +refused\+retry\+fallback +[1-9]\d* +- +-$`,
		`^  SIGSEGV +1 +SIGSEGV +io +- +[1-9]\d* +-$`,
		`^  SIGSEGV +1 +SIGSEGV +io\+fallback +- +- +[1-9]\d*$`,
	)
	if strings.Contains(got, "\n  page ") {
		t.Errorf("T read the page in some schedule, though munmap should never wait for its 2 ms disk read")
	}
	if n := strings.Count(got, ": OK — munmap never waits for the sleeping fault"); n != 3 {
		t.Errorf("%d policies judged OK, want 3", n)
	}
}

// TestExploreNoLatency: when the page-cache read does not sleep, T's read
// can win the race, and its next read still faults once it has seen the
// flag.
func TestExploreNoLatency(t *testing.T) {
	got := exampletest.Output(t, run, "-preemptions", "1", "-latency", "0")
	for _, p := range []string{"rcu-refcount", "mmap-lock", "per-vma-lock"} {
		if !regexp.MustCompile(`(?m)^verdict ` + p + `: OK — T's read is SIGSEGV or page; `).MatchString(got) {
			t.Errorf("no verdict for %s with both outcomes:\n%s", p, got)
		}
	}
	if regexp.MustCompile(`(?m)^  \S+ +1 +page `).MatchString(got) {
		t.Errorf("T read the page after it had seen the flag:\n%s", got)
	}
}

// TestExploreNoDetachCheck drops the re-check that the VMA is still
// attached before a PTE is installed: exploration finds the schedule in
// which the sleeping fault installs its PTE after munmap's zap, T reads
// the page after seeing the flag, and Check reports the orphan PTE.
func TestExploreNoDetachCheck(t *testing.T) {
	got := exampletest.Output(t, run, "-preemptions", "1", "-policy", "rcu-refcount", "-quirks", "no-detach-check")
	exampletest.Match(t, got,
		`^verdict rcu-refcount: BROKEN in [1-9]\d* of \d+ schedules$`,
		`^the first failing schedule of rcu-refcount: T read the page \(page\) after munmap returned: a PTE outlived the munmap; Check: PTE at 0x[0-9a-f]+ .*outside any VMA$`,
		`· sleep`,
		`install 0x[0-9a-f]+ pfn \d+`,
	)
}

// TestFreePolicies checks what each policy must show: the sleeping fault
// loses the race and T gets SIGSEGV after munmap returned — under
// rcu-refcount because its install is refused, under the lock-based
// policies because the fault dropped its lock for the disk read and its
// retry finds no VMA; under all three no PTE survives the munmap (Check)
// and T's next read faults.
// The latency is long so that a busy machine still has U unmap while T
// sleeps.
func TestFreePolicies(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "munmap.json")
	var out bytes.Buffer
	if err := run([]string{"-free", "-latency", "20ms", "-delay", "2ms", "-rounds", "1", "-trace", jsonPath}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	exampletest.Match(t, got,
		`^verdict rcu-refcount: munmap returned after \S+ without waiting for the sleeping fault; `+
			`the fault lost the race — its install was refused \(the VMA was detached\), it retried, fell back to the mmap lock, found no VMA — `+
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`,
		`^verdict mmap-lock: munmap returned after \S+ without waiting for the sleeping fault; `+
			`the fault lost the race — it dropped the mmap lock for the disk read and asked to be retried \(maybe_unlock_mmap_for_io\), took the mmap lock again, found no VMA — `+
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`,
		`^verdict per-vma-lock: munmap returned after \S+ without waiting for the sleeping fault; `+
			`the fault lost the race — it dropped the VMA's read lock for the disk read and asked to be retried \(maybe_unlock_mmap_for_io\), fell back to the mmap lock, found no VMA — `+
			`and T got SIGSEGV \(SEGV_MAPERR\) \S+ after munmap returned$`,
		`fallback to mmap lock 0x[0-9a-f]+: no vma`,
		`^\s+T  reads again: SIGSEGV \(SEGV_MAPERR\)`,
	)
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
		{"-free", "-latency", "1ms", "-delay", "2ms"},
		{"-free", "-rounds", "0"},
		{"-rounds", "3"},               // needs -free
		{"-free", "-preemptions", "1"}, // exploration only
		{"-preemptions", "-1"},
		{"-latency", "-1ms"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestFreeNoDetachCheck drops the re-check that the VMA is still attached
// before a PTE is installed: the sleeping fault's PTE outlives the
// munmap, a read begun after munmap returned still reads the page, and
// Check reports the orphan PTE.
func TestFreeNoDetachCheck(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-free", "-policy", "rcu-refcount", "-quirks", "no-detach-check", "-latency", "20ms", "-delay", "2ms", "-rounds", "1", "-timeline=false"}
	if err := run(args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	exampletest.Match(t, got,
		`^\s+T  reads again: 0xf11e000000000005 — through a PTE that outlived the munmap$`,
		`^  Check: FAILED: PTE at 0x[0-9a-f]+ .* outside any VMA`,
		`^verdict rcu-refcount: BROKEN — a read begun after munmap returned got 0xf11e000000000005`,
	)
}
