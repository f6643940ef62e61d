package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAllPoliciesOK runs a few rounds of every policy and checks the
// output contract: a summary per policy with its verdict, OK for every
// policy since no rule is broken, and a timeline.
func TestAllPoliciesOK(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "race.json"), filepath.Join(dir, "race.svg")
	var out bytes.Buffer
	if err := run([]string{"-rounds", "20", "-seed", "7", "-trace", jsonPath, "-svg", svgPath}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
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
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  A and C disagreed +in \d+ of 20 rounds`),
		regexp.MustCompile(`(?m)^  spurious signals +0$`),
		regexp.MustCompile(`(?m)^  poisoned reads +0 `),
		regexp.MustCompile(`(?m)^  stale after return +0 `),
		regexp.MustCompile(`(?m)^timeline of policy \S+, round \d+`),
		regexp.MustCompile(`(?m)mmap\(0x[0-9a-f]+, 0x1000, r--, MAP_PRIVATE\|MAP_FIXED`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %v", want)
		}
	}
	if strings.Contains(got, "BROKEN") {
		t.Errorf("a policy was judged BROKEN with no quirk set")
	}

	var doc struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.TraceEvents) == 0 {
		t.Errorf("%s is not a Chrome trace with events: %v", jsonPath, err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("MAP_FIXED")) {
		t.Errorf("%s is not an SVG timeline of the mmap call", svgPath)
	}
}

// TestQuirksShowSpuriousSegv breaks the atomic MAP_FIXED replace and the
// lock fallback, and checks that the program finds the spurious SIGSEGV
// of Linux before 6.12 and prints the round's timeline with the empty
// lookup that caused it.
func TestQuirksShowSpuriousSegv(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-policy", "per-vma-lock", "-quirks", "non-atomic-fixed-replace,no-lock-fallback",
		"-rounds", "2000", "-until-broken", "-seed", "3"}
	if err := run(args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^verdict per-vma-lock: BROKEN in 1 of \d+ rounds — spurious SIGSEGV`),
		regexp.MustCompile(`(?m)^  spurious signals +\d+ SIGSEGV \(SEGV_MAPERR\) in 1 round —`),
		regexp.MustCompile(`(?m)^timeline of policy per-vma-lock, round \d+ \(the first round that went wrong\)`),
		regexp.MustCompile(`(?m)^  reader [AC] got SIGSEGV \(SEGV_MAPERR\) at 0x[0-9a-f]+ `),
		regexp.MustCompile(`publish v\d+: unmap published alone`),
		regexp.MustCompile(`lookup 0x[0-9a-f]+ -> none`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %v", want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-policy", "bogus"},
		{"-quirks", "bogus"},
		{"-rounds", "0"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
