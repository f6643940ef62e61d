package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/internal/exampletest"
)

// TestExhaustiveAnswer pins the answer within one preemption: every
// outcome and its schedule count per policy, the questions, the
// verdicts. (The default, two preemptions, is pinned by the README test
// at the repository's root.)
func TestExhaustiveAnswer(t *testing.T) {
	got := exampletest.Pinned(t, run, "testdata/preemptions-1.txt", "-preemptions", "1")
	// What the answer must say whatever the counts: every policy OK, the
	// question of the thread answered "never", the search complete.
	if n := strings.Count(got, ": OK — "); n != 3 {
		t.Errorf("%d policies judged OK, want 3", n)
	}
	exampletest.Match(t, got,
		`^  C read old after A's read of new had returned +0 +0 +0$`,
		`^  A and C read different data \(one old, one new\) +[1-9]\d* +[1-9]\d* +[1-9]\d*$`,
		`^  failed +0 +0 +0$`,
		`^  complete +yes +yes +yes$`,
	)
}

// TestQuirksFailingSchedule breaks the atomic MAP_FIXED replace and the
// lock fallback: the lockless policies fail with a spurious SIGSEGV, the
// first failing schedule's timeline shows the unmap published alone and
// the empty lookup, and -trace and -svg draw it. Its token replays it.
func TestQuirksFailingSchedule(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "race.json"), filepath.Join(dir, "race.svg")
	got := exampletest.Output(t, run, "-preemptions", "1", "-quirks", "non-atomic-fixed-replace,no-lock-fallback", "-trace", jsonPath, "-svg", svgPath)
	exampletest.Golden(t, "testdata/quirks-preemptions-1.txt", []byte(strings.ReplaceAll(got, dir, "DIR")))
	exampletest.Match(t, got,
		`^verdict rcu-refcount: BROKEN in [1-9]\d* of \d+ schedules — a read raised a signal$`,
		`^verdict mmap-lock: OK — `,
		`^verdict per-vma-lock: BROKEN in [1-9]\d* of \d+ schedules — a read raised a signal$`,
		`publish v\d+: unmap published alone`,
		`lookup 0x[0-9a-f]+ -> none`,
		`· tree\.lookup`,
	)

	var doc struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if data, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(data, &doc) != nil || len(doc.TraceEvents) == 0 {
		t.Errorf("%s is not a Chrome trace with events: %v", jsonPath, err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("MAP_FIXED")) {
		t.Errorf("%s is not an SVG timeline of the mmap call: %v", svgPath, err)
	}

	// The replay command printed for rcu-refcount runs the same schedule.
	m := regexp.MustCompile(`(?m)^replay it: go run \./examples/mapfixed-race (-policy rcu-refcount .*)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatal("no replay command for rcu-refcount")
	}
	again := exampletest.Output(t, run, strings.Fields(m[1])...)
	first := regexp.MustCompile(`(?m)^the first failing schedule of rcu-refcount: (.*)$`).FindStringSubmatch(got)
	if first == nil || !strings.Contains(again, "\nfailed: "+first[1]+"\n") {
		t.Errorf("the replay did not fail as the first failing schedule did (%q):\n%s", first, again)
	}
	timeline := got[strings.Index(got, "\nstep "):strings.Index(got, "\nthe first failing schedule of per-vma-lock")]
	if !strings.Contains(again, timeline) {
		t.Errorf("the replay's timeline is not the failing schedule's")
	}
}

// TestDocsPicture: docs/mapfixed-race.svg is the first failing schedule
// of rcu-refcount with the quirks of the README, drawn by today's code.
func TestDocsPicture(t *testing.T) {
	svgPath := filepath.Join(t.TempDir(), "race.svg")
	exampletest.Output(t, run, "-policy", "rcu-refcount", "-preemptions", "1", "-quirks", "non-atomic-fixed-replace,no-lock-fallback", "-svg", svgPath)
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	exampletest.Golden(t, "../../docs/mapfixed-race.svg", svg)
}

// TestReplayClean: with no failing schedule, -svg draws the first
// schedule and names its token; replaying that token says it did not
// fail and still prints its timeline. The first schedule runs A, then B,
// then C, each to its end: A reads old, C reads new twice.
func TestReplayClean(t *testing.T) {
	got := exampletest.Output(t, run, "-preemptions", "0", "-policy", "mmap-lock", "-svg", filepath.Join(t.TempDir(), "first.svg"))
	m := regexp.MustCompile(`the first schedule \((v1\.\S+)\)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("-svg did not name the first schedule's token:\n%s", got)
	}
	again := exampletest.Output(t, run, "-policy", "mmap-lock", "-replay", m[1])
	for _, want := range []string{"\noutcome: A's read old, C's 1st new, flag C read old, C's 2nd new\n", "\nit did not fail\n", "\ntimeline:\nstep "} {
		if !strings.Contains(again, want) {
			t.Errorf("replay output lacks %q:\n%s", want, again)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"-policy", "mmap-lock", "-replay", "v1.garbage"}, &out); err == nil {
		t.Errorf("a malformed token was accepted")
	}
}

// TestFree runs a few rounds of the free-running experiment and checks
// its output contract: a summary per policy with its verdict, OK for
// every policy since no rule is broken, and a timeline.
func TestFree(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "race.json"), filepath.Join(dir, "race.svg")
	got := exampletest.Output(t, run, "-free", "-rounds", "20", "-seed", "7", "-trace", jsonPath, "-svg", svgPath)
	for _, p := range []string{"rcu-refcount", "mmap-lock", "per-vma-lock"} {
		for _, want := range []string{
			"policy " + p + " (quirks: none): 20 rounds",
			"verdict " + p + ": OK — ",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	}
	exampletest.Match(t, got,
		`^  A and C disagreed +in \d+ of 20 rounds`,
		`^  spurious signals +0$`,
		`^  poisoned reads +0 `,
		`^  stale after return +0 `,
		`^timeline of policy \S+, round \d+`,
		`mmap\(0x[0-9a-f]+, 0x1000, r--, MAP_PRIVATE\|MAP_FIXED`,
	)
	if strings.Contains(got, "BROKEN") {
		t.Errorf("a policy was judged BROKEN with no quirk set")
	}
	if data, err := os.ReadFile(jsonPath); err != nil || !bytes.Contains(data, []byte(`"traceEvents"`)) {
		t.Errorf("no Chrome trace written: %v", err)
	}
	if svg, err := os.ReadFile(svgPath); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("no SVG written: %v", err)
	}
}

// TestFreeQuirksShowSpuriousSegv: the free-running experiment finds the
// spurious SIGSEGV of Linux before 6.12 too, and prints the round's
// timeline with the empty lookup that caused it.
func TestFreeQuirksShowSpuriousSegv(t *testing.T) {
	got := exampletest.Output(t, run, "-free", "-policy", "per-vma-lock", "-quirks", "non-atomic-fixed-replace,no-lock-fallback",
		"-rounds", "2000", "-until-broken", "-seed", "3")
	exampletest.Match(t, got,
		`^verdict per-vma-lock: BROKEN in 1 of \d+ rounds — spurious SIGSEGV`,
		`^  spurious signals +\d+ SIGSEGV \(SEGV_MAPERR\) in 1 round —`,
		`^timeline of policy per-vma-lock, round \d+ \(the first round that went wrong\)`,
		`^  reader [AC] got SIGSEGV \(SEGV_MAPERR\) at 0x[0-9a-f]+ `,
		`publish v\d+: unmap published alone`,
		`lookup 0x[0-9a-f]+ -> none`,
	)
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-policy", "bogus"},
		{"-quirks", "bogus"},
		{"-preemptions", "-1"},
		{"-replay", "v1.AAAA"},         // needs -policy
		{"-rounds", "20"},              // needs -free
		{"-free", "-preemptions", "1"}, // exploration only
		{"-free", "-rounds", "0"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
