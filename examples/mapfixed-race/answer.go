package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// answer is what exploring the scenario under one policy found.
type answer struct {
	policy mmap.Policy
	quirks mmap.Quirks
	report *explore.Report
}

// exploreAll runs every schedule within the bound of o, per policy.
func exploreAll(o *options) ([]answer, error) {
	var answers []answer
	for _, p := range o.policies {
		r, err := explore.Run(explore.Options{Strategy: explore.Exhaustive(o.preemptions)}, scenario(p, o.quirks))
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p, err)
		}
		answers = append(answers, answer{policy: p, quirks: o.quirks, report: r})
	}
	return answers, nil
}

// wordRank orders the words of a read in tables: old first, then new,
// then what only a broken rule produces.
func wordRank(w string) int {
	if i := slices.Index([]string{"0", "old", "new", "SIGSEGV", "SIGBUS", "poison"}, w); i >= 0 {
		return i
	}
	return 99
}

func compareWords(a, b []string) int {
	for i := range a {
		if c := cmp.Or(cmp.Compare(wordRank(a[i]), wordRank(b[i])), strings.Compare(a[i], b[i])); c != 0 {
			return c
		}
	}
	return 0
}

// table prints rows of cells with left-aligned label columns and
// right-aligned number columns after them.
type table struct {
	labels int // how many leading columns are labels
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i < t.labels {
				b.WriteString("  " + c + pad)
			} else {
				b.WriteString("   " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// printAnswers prints the outcome table, the questions it answers and a
// verdict per policy.
func printAnswers(w io.Writer, answers []answer) {
	// Every outcome any policy reached, in table order.
	var rows [][]string
	seen := map[string]bool{}
	for _, a := range answers {
		for out := range a.report.Outcomes {
			if !seen[out] {
				seen[out] = true
				rows = append(rows, outcomeWords(out))
			}
		}
	}
	slices.SortFunc(rows, compareWords)

	fmt.Fprintf(w, "\noutcomes: the words each read returned, and how many schedules ended that way\n")
	t := &table{labels: len(reads)}
	head := []string{}
	for _, r := range reads {
		head = append(head, r.label)
	}
	for _, a := range answers {
		head = append(head, a.policy.String())
	}
	t.add(head...)
	for _, words := range rows {
		out := outcomeOf(words)
		row := slices.Clone(words)
		for _, a := range answers {
			n := a.report.Outcomes[out]
			row = append(row, countOrDash(n))
		}
		t.add(row...)
	}
	blank := make([]string, len(reads)-1)
	footer := func(label string, f func(answer) string) {
		row := append([]string{label}, blank...)
		for _, a := range answers {
			row = append(row, f(a))
		}
		t.add(row...)
	}
	footer("schedules", func(a answer) string { return strconv.Itoa(a.report.Schedules) })
	footer("complete", func(a answer) string { return yesNo(a.report.Complete) })
	footer("failed", func(a answer) string { return strconv.Itoa(a.report.Failed) })
	t.print(w)

	fmt.Fprintf(w, "\nin how many schedules it happened\n")
	q := &table{labels: 1}
	q.add(append([]string{""}, head[len(reads):]...)...)
	for _, qu := range questions {
		row := []string{qu.text}
		for _, a := range answers {
			row = append(row, strconv.Itoa(qu.count(a.report)))
		}
		q.add(row...)
	}
	q.print(w)

	fmt.Fprintln(w)
	for _, a := range answers {
		fmt.Fprintf(w, "verdict %s: %s\n", a.policy, a.verdict())
	}
}

// A question is something an outcome shows or does not.
type question struct {
	text  string
	holds func(words []string) bool
}

// count returns how many schedules of r ended in an outcome where q holds.
func (q question) count(r *explore.Report) int {
	n := 0
	for out, k := range r.Outcomes {
		if q.holds(outcomeWords(out)) {
			n += k
		}
	}
	return n
}

// The words of an outcome, by index into reads.
const (
	wA = iota
	wC1
	wFlag
	wC2
)

func valid(w string) bool { return w == "old" || w == "new" }

var questions = []question{
	{"A and C read different data (one old, one new)", func(ws []string) bool {
		return valid(ws[wA]) && (valid(ws[wC1]) && ws[wC1] != ws[wA] || valid(ws[wC2]) && ws[wC2] != ws[wA])
	}},
	{"C read old after A's read of new had returned", func(ws []string) bool {
		return ws[wFlag] == "new" && ws[wC2] == "old"
	}},
	{"C read old after its own read of new", func(ws []string) bool {
		return ws[wC1] == "new" && ws[wC2] == "old"
	}},
	{"a read raised a signal", func(ws []string) bool {
		return slices.ContainsFunc(ws, func(w string) bool { return strings.HasPrefix(w, "SIG") })
	}},
	{"a read returned poison or garbage", func(ws []string) bool {
		return slices.ContainsFunc(ws, func(w string) bool {
			return w != "0" && !valid(w) && !strings.HasPrefix(w, "SIG")
		})
	}},
}

// outcomeOf is the inverse of outcomeWords: the outcome string explore
// reports (observations sorted by key).
func outcomeOf(words []string) string {
	kv := map[string]string{}
	for i, r := range reads {
		kv[r.key] = words[i]
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		parts = append(parts, k+"="+kv[k])
	}
	return strings.Join(parts, " ")
}

func countOrDash(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// verdict says in one line what the exploration of a policy showed.
func (a answer) verdict() string {
	r := a.report
	if r.Failed > 0 {
		var why []string
		for _, q := range questions[1:] { // each of them fails a schedule
			if q.count(r) > 0 {
				why = append(why, q.text)
			}
		}
		if len(why) == 0 {
			why = append(why, r.Failures[0].Err.Error())
		}
		return fmt.Sprintf("BROKEN in %d of %d schedules — %s", r.Failed, r.Schedules, strings.Join(why, "; "))
	}
	if !r.Complete {
		return fmt.Sprintf("no failure in %d schedules, but the search did not complete", r.Schedules)
	}
	return "OK — A and C can read different words at the address, but no read returns old once " +
		"a read of new it knows of has returned; never a signal, never a freed frame"
}

// printFailures prints, for each policy with a failing schedule, the
// first one's error and the command that replays it, and the timeline of
// the first policy's.
func printFailures(w io.Writer, answers []answer) {
	shown := false
	for _, a := range answers {
		if len(a.report.Failures) == 0 {
			continue
		}
		f := a.report.Failures[0]
		fmt.Fprintf(w, "\nthe first failing schedule of %s: %v\n", a.policy, f.Err)
		fmt.Fprintf(w, "replay it: go run ./examples/mapfixed-race %s\n", replayArgs(a.policy, a.quirks, f.Schedule))
		if !shown {
			fmt.Fprintf(w, "its timeline (a column per thread; '·' lines are scheduling points; steps are the schedule's virtual time):\n")
			fmt.Fprint(w, f.Timeline)
			shown = true
		}
	}
}

// replayArgs is the command line that replays token.
func replayArgs(p mmap.Policy, q mmap.Quirks, token string) string {
	args := "-policy " + p.String()
	if q != 0 {
		args += " -quirks " + q.String()
	}
	return args + " -replay " + token
}
