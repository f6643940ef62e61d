package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTableAndChart runs a small grid and checks the output contract: a
// row per policy and churn setting with a positive rate per thread count,
// the churn comparison, and an SVG chart with one line per row.
func TestTableAndChart(t *testing.T) {
	dir := t.TempDir()
	svgPath := filepath.Join(dir, "chart.svg")
	var out bytes.Buffer
	if err := run([]string{"-threads", "1,2", "-duration", "20ms", "-repeat", "1", "-pages", "64", "-svg", svgPath}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	if !regexp.MustCompile(`(?m)^policy +churn +1 thread +2 threads$`).MatchString(got) {
		t.Errorf("no table header")
	}
	row := regexp.MustCompile(`(?m)^(rcu-refcount|mmap-lock|per-vma-lock) +(on|off) +(\d\S*) +(\d\S*)$`)
	rows := row.FindAllStringSubmatch(got, -1)
	if len(rows) != 6 {
		t.Fatalf("%d table rows, want 6 (3 policies × churn off/on)", len(rows))
	}
	for _, r := range rows {
		for _, v := range r[3:] {
			if rate(t, v) <= 0 {
				t.Errorf("row %q: rate %q is not positive", r[0], v)
			}
		}
	}
	lat := regexp.MustCompile(`(?m)^(rcu-refcount|mmap-lock|per-vma-lock) +(on|off) +\d+\.\dµs / \d+\.\dµs +\d+\.\dµs / \d+\.\dµs$`)
	if n := len(lat.FindAllString(got, -1)); n != 6 {
		t.Errorf("%d latency rows, want 6", n)
	}
	for _, p := range []string{"rcu-refcount", "mmap-lock", "per-vma-lock"} {
		if !regexp.MustCompile(`(?m)^` + p + ` +\d+% \(\S+/s\) +\d+% \(\S+/s\)$`).MatchString(got) {
			t.Errorf("no churn comparison line for %s", p)
		}
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(svg, []byte("<polyline")); n != 6 {
		t.Errorf("chart has %d lines, want 6", n)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.HasSuffix(svg, []byte("</svg>\n")) {
		t.Errorf("chart is not a whole SVG document")
	}
}

// rate parses 1.52M, 830k or 950.
func rate(t *testing.T, s string) float64 {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("bad rate %q", s)
	}
	return v * mult
}

// TestNoFileWithoutFlag checks that nothing is written to the current
// directory unless -svg is given.
func TestNoFileWithoutFlag(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := run([]string{"-policy", "rcu-refcount", "-threads", "1", "-churn", "off", "-duration", "10ms", "-repeat", "1", "-pages", "16"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("run wrote %d files into the current directory", len(ents))
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-threads", "0"},
		{"-threads", "x"},
		{"-churn", "sometimes"},
		{"-duration", "0s"},
		{"-policy", "nope"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
