// Command munmap-race shows a page fault that sleeps on a slow page cache
// while another thread unmaps the page, under each locking policy.
//
// Thread T reads a page of a file mapping that is not in the page cache;
// the file's "disk" takes -latency (2 ms) to read it, and T's fault sleeps
// that long in the slow path. Meanwhile thread U calls munmap on the whole
// mapping, then sets a flag word; T reads the flag after its read, then
// the page again. What happens is the difference between the policies:
//
//   - rcu-refcount (Wilcox 2019): the fault sleeps holding only a
//     reference on the VMA, so munmap detaches it and returns at once; the
//     fault wakes up, finds its VMA detached when it tries to install the
//     page, retries, finds no VMA, falls back to the mmap lock to be sure,
//     and delivers SIGSEGV (SEGV_MAPERR).
//   - mmap-lock (before Linux 6.4): the fault holds the mmap lock for
//     reading, but drops it for the disk read and asks to be retried
//     (filemap_fault's maybe_unlock_mmap_for_io, Linux 5.1+), so munmap
//     does not wait; the retry takes the mmap lock again and finds no VMA.
//   - per-vma-lock (Linux 6.4+): the fault holds the VMA's read lock and
//     drops it the same way; its retry falls back to the mmap lock and
//     finds no VMA.
//
// By default the program runs every schedule of T and U with at most two
// preemptions (explore.Exhaustive(2)) under each policy, with the disk's
// latency in virtual time, and prints every outcome (what T's reads
// returned, and what its fault did on the way) with the number of
// schedules that reached it, and a verdict. A schedule fails if T reads
// the page after it has seen the flag, or if Check finds a PTE that
// outlived the munmap.
//
//	go run ./examples/munmap-race
//	go run ./examples/munmap-race -latency 0
//	go run ./examples/munmap-race -policy rcu-refcount -quirks no-detach-check
//	go run ./examples/munmap-race -free -policy rcu-refcount -latency 5ms -trace munmap.json
//
// With -latency 0 the page-cache read does not sleep, and T's read can
// win the race. The third drops the re-check, under the page-table lock,
// that the VMA is still attached: the sleeping fault installs its PTE
// after munmap's zap, T reads the page after seeing the flag, and Check
// reports the orphan PTE; the first failing schedule's timeline shows it.
//
// -free runs T and U on real goroutines instead, -rounds times per
// policy, with U waiting -delay into T's fault before munmap: it prints
// when each step happened in wall-clock time, the fault counters, Check,
// a verdict and the text timeline of each policy's first round.
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
	"github.com/vmsim/vmsim/trace"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "munmap-race:", err)
		}
		os.Exit(2)
	}
}

type options struct {
	policies    []mmap.Policy
	quirks      mmap.Quirks
	latency     time.Duration
	preemptions int

	// The free-running experiment's.
	free     bool
	rounds   int
	delay    time.Duration
	trace    string
	svg      string
	timeline bool
}

// freeOnly are the flags that only the free-running experiment reads.
var freeOnly = []string{"rounds", "delay", "trace", "svg", "timeline"}

var allPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("munmap-race", flag.ContinueOnError)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	quirks := fs.String("quirks", "", "comma-separated quirks, e.g. no-detach-check")
	latency := fs.Duration("latency", 2*time.Millisecond, "how long the file's page-cache miss takes (FileOptions.MissLatency)")
	preemptions := fs.Int("preemptions", 2, "run every schedule with at most this many preemptions")
	free := fs.Bool("free", false, "run the free-running experiment instead of exploring schedules")
	rounds := fs.Int("rounds", 3, "with -free: rounds per policy")
	delay := fs.Duration("delay", 200*time.Microsecond, "with -free: how long U waits, after T's fault began, before munmap")
	tracePath := fs.String("trace", "", "with -free: write the Chrome trace JSON of the last policy's first round here (https://ui.perfetto.dev)")
	svgPath := fs.String("svg", "", "with -free: write an SVG timeline of the last policy's first round here")
	timeline := fs.Bool("timeline", true, "with -free: print the text timeline of each policy's first round")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := &options{latency: *latency, preemptions: *preemptions,
		free: *free, rounds: *rounds, delay: *delay, trace: *tracePath, svg: *svgPath, timeline: *timeline}
	var err error
	if o.quirks, err = mmap.ParseQuirks(*quirks); err != nil {
		return nil, err
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case !o.free && slices.Contains(freeOnly, f.Name):
			misplaced = append(misplaced, "-"+f.Name+" needs -free")
		case o.free && f.Name == "preemptions":
			misplaced = append(misplaced, "-preemptions explores schedules: it does not go with -free")
		}
	})
	switch {
	case len(misplaced) > 0:
		return nil, errors.New(strings.Join(misplaced, "; "))
	case o.preemptions < 0:
		return nil, fmt.Errorf("-preemptions %d is negative", o.preemptions)
	case o.latency < 0:
		return nil, fmt.Errorf("-latency %v is negative", o.latency)
	case !o.free:
	case o.rounds < 1:
		return nil, fmt.Errorf("-rounds %d: need at least one", o.rounds)
	case o.latency <= 0 || o.delay < 0 || o.delay >= o.latency:
		return nil, fmt.Errorf("need 0 <= -delay (%v) < -latency (%v)", o.delay, o.latency)
	}
	if *policy == "all" {
		o.policies = allPolicies
		return o, nil
	}
	var names []string
	for _, p := range allPolicies {
		if p.String() == *policy {
			o.policies = []mmap.Policy{p}
			return o, nil
		}
		names = append(names, p.String())
	}
	return nil, fmt.Errorf("unknown policy %q (want all, %s)", *policy, strings.Join(names, ", "))
}

// run is the whole program; main and the test call it.
func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if !o.free {
		return runExplore(o, stdout)
	}
	fmt.Fprintf(stdout, "munmap-race: T faults on a file page whose read takes %v; %v into the fault, U unmaps the file (quirks: %s).\n", o.latency, o.delay, o.quirks)
	var last *result
	for _, p := range o.policies {
		var results []*result
		for n := 0; n < o.rounds; n++ {
			r, err := runRound(p, o.quirks, o.latency, o.delay)
			if err != nil {
				return fmt.Errorf("policy %s: %w", p, err)
			}
			results = append(results, r)
		}
		report(stdout, results, o.timeline)
		last = results[0]
	}
	return writeFiles(stdout, last, o.trace, o.svg)
}

func writeFiles(stdout io.Writer, r *result, jsonPath, svgPath string) error {
	if jsonPath != "" {
		if err := writeFile(jsonPath, func(w io.Writer) error { return trace.WriteChromeJSON(w, r.rec) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (policy %s, round 1); open https://ui.perfetto.dev and drag the file in\n", jsonPath, r.policy)
	}
	if svgPath != "" {
		opt := trace.SVGOptions{Title: fmt.Sprintf("munmap-race: policy %s — T faults (slow page cache) while U unmaps", r.policy)}
		if err := writeFile(svgPath, func(w io.Writer) error { return trace.WriteSVG(w, r.rec, opt) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (policy %s, round 1)\n", svgPath, r.policy)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
