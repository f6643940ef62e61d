package docs_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/internal/exampletest"
	"github.com/vmsim/vmsim/mmap"
)

// An output block of the README is a fenced code block right after a
// comment that says what printed it:
//
//	<!-- output: go run ./examples/munmap-race -->
//	```
//	...
//	```
var outputBlock = regexp.MustCompile("(?s)<!-- output: (.*?) -->\n```([a-z]*)\n(.*?)```\n")

// The outputs the README must show, by the comment before each.
var outputs = map[string]func(t *testing.T, what string) string{
	"go run ./examples/mapfixed-race":           goRun,
	"go run ./examples/mapfixed-race " + quirky: goRun,
	"go run ./examples/munmap-race":             goRun,
	"docs/race_test.go": func(t *testing.T, _ string) string {
		data, err := os.ReadFile("race_test.go")
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	},
	"go test -run TestMapFixedRace -v": func(t *testing.T, _ string) string {
		out := command(t, ".", "go", "test", "-run", "^TestMapFixedRace$", "-v", "-count=1", ".")
		// What go test prints for this test, without the package's
		// summary, whose import path is the user's own.
		return out[:strings.Index(out, "\nPASS\n")+1]
	},
	"explore.Test with the quirks": func(t *testing.T, _ string) string {
		tb := &recordTB{TB: t}
		explore.Test(tb, explore.Options{Strategy: explore.Exhaustive(2)},
			mapFixedRace(mmap.QuirkNonAtomicFixedReplace|mmap.QuirkNoLockFallback))
		return tb.out.String()
	},
}

const quirky = "-policy rcu-refcount -preemptions 1 -quirks non-atomic-fixed-replace,no-lock-fallback"

// goRun runs the command what from the repository's root.
func goRun(t *testing.T, what string) string {
	return command(t, "..", strings.Fields(what)...)
}

func command(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// recordTB is a testing.TB that records what explore.Test reports
// instead of failing.
type recordTB struct {
	testing.TB
	out strings.Builder
}

func (r *recordTB) Helper()                           {}
func (r *recordTB) Errorf(format string, args ...any) { fmt.Fprintf(&r.out, format+"\n", args...) }
func (r *recordTB) Fatal(args ...any)                 { r.TB.Fatal(args...) }

// durations matches the times go test prints, which change run to run.
var durations = regexp.MustCompile(`\(\d+\.\d+s\)`)

// TestREADMEOutputs runs every command whose output README.md shows and
// compares what it prints today with what the README says it prints (the
// times go test prints aside). go test -update rewrites the README's
// blocks instead.
func TestREADMEOutputs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	seen := map[string]bool{}
	text = outputBlock.ReplaceAllStringFunc(text, func(block string) string {
		m := outputBlock.FindStringSubmatch(block)
		what, lang, shown := m[1], m[2], m[3]
		produce, ok := outputs[what]
		if !ok {
			t.Errorf("README.md shows the output of %q, which this test does not know how to run", what)
			return block
		}
		seen[what] = true
		got := shown
		t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
			got = produce(t, what)
			if d := exampletest.Diff(durations.ReplaceAllString(shown, "(…)"), durations.ReplaceAllString(got, "(…)")); d != "" && !exampletest.Updating() {
				t.Errorf("README.md shows an output that %s no longer prints (go test ./docs -run TestREADMEOutputs -update rewrites it)\n%s", what, d)
			}
		})
		return "<!-- output: " + what + " -->\n```" + lang + "\n" + got + "```\n"
	})
	for what := range outputs {
		if !seen[what] {
			t.Errorf("README.md no longer shows the output of %q", what)
		}
	}
	if exampletest.Updating() && !t.Failed() {
		if err := os.WriteFile("../README.md", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
