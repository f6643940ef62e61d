// Command mapfixed-race answers the question of the December 2019
// linux-mm thread (Matthew Wilcox, Jérôme Glisse): may two threads see
// different data at one address while a third is inside mmap(MAP_FIXED)?
//
// The address holds a private anonymous page whose first word is
// 0x01d001d001d001d0 ("old"). Thread B maps a file whose first word is
// 0x2e302e302e302e30 ("new") over it with MAP_FIXED. Meanwhile thread A
// reads the address and stores the word it read in a flag word on another
// page, and thread C reads the address, then the flag, then the address
// again. When C finds new in the flag, A's read of new has returned before
// C's second read began, so C reading old then is what "old after new"
// means to a program.
//
// By default the program runs every schedule of the three threads with at
// most two preemptions (explore.Exhaustive(2)) under each policy, and
// prints every outcome with the number of schedules that reached it, how
// often A and C read different data, whether a read returned old after a
// read of new it knew of had returned, and a verdict. Within the bound,
// an outcome that is not in the table cannot happen, on any machine.
//
//	go run ./examples/mapfixed-race
//	go run ./examples/mapfixed-race -quirks non-atomic-fixed-replace,no-lock-fallback
//	go run ./examples/mapfixed-race -policy per-vma-lock -quirks non-atomic-fixed-replace,no-lock-fallback -replay TOKEN
//	go run ./examples/mapfixed-race -quirks no-shootdown -svg race.svg -trace race.json
//	go run ./examples/mapfixed-race -free
//
// With -quirks a rule of the simulator is broken on purpose, and the
// program prints the first failing schedule of each policy with the
// command that replays it, and the first one's timeline: a column per
// thread, one line per event, the scheduling points marked '·', the
// schedule's steps as time. -replay runs that one schedule again. -trace
// (Chrome trace JSON, for https://ui.perfetto.dev) and -svg draw the
// replayed schedule, else the first failing one, else the first schedule
// of the first policy, a microsecond per step.
//
// -free runs the free-running timing experiment instead: A and C read the
// address in a tight loop on real goroutines while B waits a random few
// microseconds and calls mmap(MAP_FIXED), -rounds times per policy. It
// prints how often A and C disagreed and for how long, where the
// switch-over lay within B's call, whether any read was spurious (a
// signal), poisoned, garbage or stale after the call returned, and the
// timeline of one round in wall-clock microseconds. Its figures depend on
// the machine and its load; the exploration's do not.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vmsim/vmsim/mmap"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mapfixed-race:", err)
		}
		os.Exit(2)
	}
}

// options are the parsed command line.
type options struct {
	policies    []mmap.Policy
	quirks      mmap.Quirks
	preemptions int
	replay      string
	trace       string
	svg         string

	// The free-running experiment's.
	free     bool
	rounds   int
	seed     uint64
	timeline bool
	jitter   time.Duration
	untilBad bool
}

// freeOnly are the flags that only the free-running experiment reads.
var freeOnly = []string{"rounds", "seed", "timeline", "jitter", "until-broken"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mapfixed-race", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	quirks := fs.String("quirks", "", "comma-separated quirks, e.g. non-atomic-fixed-replace,no-lock-fallback")
	preemptions := fs.Int("preemptions", 2, "run every schedule with at most this many preemptions")
	replay := fs.String("replay", "", "run only the schedule of this replay token (needs -policy and the -quirks it was found with)")
	tracePath := fs.String("trace", "", "write the Chrome trace JSON of the schedule drawn here (open it in https://ui.perfetto.dev)")
	svgPath := fs.String("svg", "", "write an SVG timeline of the schedule drawn here")
	free := fs.Bool("free", false, "run the free-running timing experiment instead of exploring schedules")
	rounds := fs.Int("rounds", 500, "with -free: rounds per policy")
	seed := fs.Uint64("seed", 1, "with -free: seed of B's random wait before each mmap(MAP_FIXED)")
	timeline := fs.Bool("timeline", true, "with -free: print the text timeline of the most interesting round")
	jitter := fs.Duration("jitter", 20*time.Microsecond, "with -free: the longest random wait of B before each mmap(MAP_FIXED)")
	untilBad := fs.Bool("until-broken", false, "with -free: stop a policy's rounds at the first one that goes wrong")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := &options{preemptions: *preemptions, replay: *replay, trace: *tracePath, svg: *svgPath,
		free: *free, rounds: *rounds, seed: *seed, timeline: *timeline, jitter: *jitter, untilBad: *untilBad}
	var err error
	if o.policies, err = parsePolicies(*policy); err != nil {
		return nil, err
	}
	if o.quirks, err = mmap.ParseQuirks(*quirks); err != nil {
		return nil, err
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case !o.free && slices.Contains(freeOnly, f.Name):
			misplaced = append(misplaced, "-"+f.Name+" needs -free")
		case o.free && (f.Name == "preemptions" || f.Name == "replay"):
			misplaced = append(misplaced, "-"+f.Name+" explores schedules: it does not go with -free")
		}
	})
	switch {
	case len(misplaced) > 0:
		return nil, errors.New(strings.Join(misplaced, "; "))
	case o.preemptions < 0:
		return nil, fmt.Errorf("-preemptions %d is negative", o.preemptions)
	case o.replay != "" && len(o.policies) != 1:
		return nil, errors.New("-replay needs -policy: a token replays one policy's schedule")
	case o.rounds < 1:
		return nil, fmt.Errorf("-rounds %d: need at least one round", o.rounds)
	case o.jitter < 0:
		return nil, fmt.Errorf("-jitter %v is negative", o.jitter)
	}
	return o, nil
}

var allPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

func parsePolicies(s string) ([]mmap.Policy, error) {
	if s == "all" {
		return allPolicies, nil
	}
	var names []string
	for _, p := range allPolicies {
		if p.String() == s {
			return []mmap.Policy{p}, nil
		}
		names = append(names, p.String())
	}
	return nil, fmt.Errorf("unknown policy %q (want all, %s)", s, strings.Join(names, ", "))
}

// run is the whole program; main and the test call it.
func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mapfixed-race: may two threads see different data at one address while a third is inside mmap(MAP_FIXED)?\n")
	if o.free {
		return runFree(o, stdout)
	}
	fmt.Fprintf(stdout, "The address holds %#x (old, anonymous memory); B maps a file holding\n", oldValue)
	fmt.Fprintf(stdout, "%#x (new) over it with MAP_FIXED. A reads the address and stores the word\n", newValue)
	fmt.Fprintf(stdout, "it read in a flag word; C reads the address, then the flag, then the address again.\n")
	if o.replay != "" {
		return runReplay(o, stdout)
	}
	fmt.Fprintf(stdout, "Every schedule with at most %s is run, per policy (explore.Exhaustive(%d));\n", plural(o.preemptions, "preemption"), o.preemptions)
	fmt.Fprintf(stdout, "within that bound an outcome missing from the table cannot happen. Quirks: %s.\n", o.quirks)
	answers, err := exploreAll(o)
	if err != nil {
		return err
	}
	printAnswers(stdout, answers)
	printFailures(stdout, answers)
	return drawExplored(stdout, o, answers)
}

// plural formats n things: "1 preemption", "2 preemptions".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
