// Command mapfixed-race runs the question of the December 2019 linux-mm
// thread (Matthew Wilcox, Jérôme Glisse): may two threads see different
// data and different translations at one address while a third is inside
// mmap(MAP_FIXED)?
//
// Threads A and C read one address in a tight loop. It holds a private
// anonymous page whose word is 0x01d001d001d001d0 ("old"). Thread B waits
// a short random time and calls mmap(MAP_FIXED) over it with a file whose
// words are all 0x2e302e302e302e30 ("new"). Each round runs in a fresh
// address space; the readers' every read is stamped with the trace clock.
// For each policy the program prints how often A and C disagreed (one
// read old while an overlapping read on the other thread read new), the
// longest disagreement and where it lay relative to B's call, whether any
// read was spurious (a signal), poisoned, garbage or stale after the call
// returned, and a verdict.
//
//	go run ./examples/mapfixed-race
//	go run ./examples/mapfixed-race -policy rcu-refcount -rounds 2000 -trace out.json -svg out.svg
//	go run ./examples/mapfixed-race -quirks non-atomic-fixed-replace,no-lock-fallback
//
// The last one breaks the atomic replace (Linux before 6.12 published the
// unmap before the new VMA) and the mmap-lock fallback, and prints the
// spurious SIGSEGV with the timeline of the round where it happened.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
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
	policies []mmap.Policy
	rounds   int
	seed     uint64
	quirks   mmap.Quirks
	trace    string
	svg      string
	timeline bool
	jitter   time.Duration
	untilBad bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mapfixed-race", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	rounds := fs.Int("rounds", 500, "rounds per policy")
	seed := fs.Uint64("seed", 1, "seed of B's random wait before each mmap(MAP_FIXED)")
	quirks := fs.String("quirks", "", "comma-separated quirks, e.g. non-atomic-fixed-replace,no-lock-fallback")
	tracePath := fs.String("trace", "", "write the Chrome trace JSON of the most interesting round here (open it in https://ui.perfetto.dev)")
	svgPath := fs.String("svg", "", "write an SVG timeline of the most interesting round here")
	timeline := fs.Bool("timeline", true, "print the text timeline of the most interesting round")
	jitter := fs.Duration("jitter", 20*time.Microsecond, "the longest random wait of B before each mmap(MAP_FIXED)")
	untilBad := fs.Bool("until-broken", false, "stop a policy's rounds at the first one that goes wrong")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := &options{rounds: *rounds, seed: *seed, trace: *tracePath, svg: *svgPath, timeline: *timeline, jitter: *jitter, untilBad: *untilBad}
	var err error
	if o.policies, err = parsePolicies(*policy); err != nil {
		return nil, err
	}
	if o.quirks, err = mmap.ParseQuirks(*quirks); err != nil {
		return nil, err
	}
	if o.rounds < 1 {
		return nil, fmt.Errorf("-rounds %d: need at least one round", o.rounds)
	}
	if o.jitter < 0 {
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
	fmt.Fprintf(stdout, "A and C read one address in a loop; it holds %#x (old, anonymous memory).\n", oldValue)
	fmt.Fprintf(stdout, "B waits 0-%v, then maps a file holding %#x (new) over it with MAP_FIXED.\n", o.jitter, newValue)
	fmt.Fprintf(stdout, "%d rounds per policy, seed %d, quirks: %s; %d CPUs.\n", o.rounds, o.seed, o.quirks, runtimeCPUs())

	var shown *summary
	for _, p := range o.policies {
		s := newSummary(p, o.quirks)
		rng := rand.New(rand.NewPCG(o.seed, uint64(p)))
		for n := 1; n <= o.rounds; n++ {
			r, err := runRound(roundConfig{
				n: n, policy: p, quirks: o.quirks,
				jitter:     time.Duration(rng.Int64N(int64(o.jitter) + 1)),
				afterReads: 16,
				maxReads:   1 << 16,
			})
			if err != nil {
				return fmt.Errorf("policy %s, round %d: %w", p, n, err)
			}
			f := analyze(r)
			s.add(r, f)
			if o.untilBad && f.bad() {
				break
			}
		}
		s.print(stdout)
		// Show the first policy that went wrong; if none did, the one
		// whose best round shows the most.
		switch {
		case shown == nil:
			shown = s
		case shown.firstBad == nil && s.firstBad != nil:
			shown = s
		case shown.firstBad == nil && s.firstBad == nil && s.bestScore > shown.bestScore:
			shown = s
		}
	}

	r, f, why := shown.showcase()
	if o.timeline {
		fmt.Fprintf(stdout, "\ntimeline of policy %s, round %d (%s):\n", r.policy, r.n, why)
		if f.bad() {
			describeBad(stdout, r, f)
		}
		if err := writeTimeline(stdout, r, f); err != nil {
			return err
		}
	}
	return writeFiles(stdout, r, f, why, o.trace, o.svg)
}

// describeBad says in one line what went wrong in the round drawn.
func describeBad(w io.Writer, r *round, f *finding) {
	if len(f.signals) > 0 {
		sg := f.signals[0]
		for _, x := range f.signals[1:] {
			if x.at < sg.at {
				sg = x
			}
		}
		fmt.Fprintf(w, "  reader %s got %s %s after B entered mmap(MAP_FIXED) (the call took %s)\n",
			readerNames[sg.reader], sg.err, us(sg.at-r.callStart), us(r.callEnd-r.callStart))
		return
	}
	fmt.Fprintf(w, "  reader %s's bad read began %s after B entered mmap(MAP_FIXED) (the call took %s)\n",
		readerNames[f.firstBadReader], us(f.firstBad-r.callStart), us(r.callEnd-r.callStart))
}

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
