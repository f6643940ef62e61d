// Package exampletest holds what the tests of the example programs and of
// the README share: running a program's run function, and comparing what
// it printed with the output it is expected to print, kept in a file or
// in the README. `go test -update` rewrites them from today's code, for a
// change that is meant.
package exampletest

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected outputs from today's code")

// Updating reports whether the test runs with -update: it should write
// what it gets where the expected output is kept, not compare.
func Updating() bool { return *update }

// Output runs run(args) and returns what it printed, failing t if run
// returns an error.
func Output(t testing.TB, run func(args []string, stdout io.Writer) error, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// Golden compares got with the file at path and reports the first line
// where they differ; with -update it writes got to the file instead.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the output differs from %s (go test -update rewrites it if the change is meant)\n%s", path, Diff(string(want), string(got)))
	}
}

// Diff shows the first line where want and got part, or "".
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	line := func(lines []string, i int) string {
		if i < len(lines) {
			return lines[i]
		}
		return ""
	}
	for i := range max(len(w), len(g)) {
		if line(w, i) != line(g, i) {
			return fmt.Sprintf("first difference, line %d:\nwant: %s\ngot:  %s", i+1, line(w, i), line(g, i))
		}
	}
	return ""
}

// Pinned runs run(args) and compares its output with the file at path
// (see Golden); it returns the output.
func Pinned(t testing.TB, run func(args []string, stdout io.Writer) error, path string, args ...string) string {
	t.Helper()
	got := Output(t, run, args...)
	Golden(t, path, []byte(got))
	return got
}

// Match reports each regular expression (multi-line mode) that got does
// not match.
func Match(t testing.TB, got string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(got) {
			t.Errorf("output does not match %s", p)
		}
	}
}
