// Command munmap-race shows a page fault that sleeps on a slow page cache
// while another thread unmaps the page, under each locking policy.
//
// Thread T reads a page of a file mapping that is not in the page cache;
// the file's "disk" takes -latency (2 ms) to read it, and T's fault sleeps
// that long in the slow path (fault.File.Fault). While it sleeps, thread U
// calls munmap on the whole mapping. What happens next is the difference
// between the policies:
//
//   - rcu-refcount (Wilcox 2019): the fault sleeps holding only a
//     reference on the VMA, so munmap detaches it and returns at once; the
//     fault wakes up, finds its VMA detached when it tries to install the
//     page, retries, finds no VMA, falls back to the mmap lock to be sure,
//     and delivers SIGSEGV (SEGV_MAPERR) — after munmap has returned.
//   - mmap-lock (before Linux 6.4): the fault holds the mmap lock for
//     reading, but drops it for the disk read and asks to be retried
//     (filemap_fault's maybe_unlock_mmap_for_io, Linux 5.1+), so munmap
//     does not wait; the retry takes the mmap lock again and finds no VMA.
//   - per-vma-lock (Linux 6.4+): the fault holds the VMA's read lock and
//     drops it the same way; its retry falls back to the mmap lock and
//     finds no VMA.
//
// For each policy the program prints when each step happened, what T
// finally got, the fault counters (Stats), the result of Check, and the
// text timeline of the first round.
//
//	go run ./examples/munmap-race
//	go run ./examples/munmap-race -policy rcu-refcount -latency 5ms -trace munmap.json
//	go run ./examples/munmap-race -policy rcu-refcount -quirks no-detach-check
//
// The last one drops the re-check, under the page-table lock, that the
// VMA is still attached: the sleeping fault installs its PTE after
// munmap's zap, the PTE outlives the munmap, and a read begun after munmap
// returned still reads the page. Check reports the orphan PTE.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	policies []mmap.Policy
	rounds   int
	latency  time.Duration
	delay    time.Duration
	trace    string
	svg      string
	timeline bool
	quirks   mmap.Quirks
}

var allPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("munmap-race", flag.ContinueOnError)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	rounds := fs.Int("rounds", 3, "rounds per policy")
	latency := fs.Duration("latency", 2*time.Millisecond, "how long the file's page-cache miss takes (FileOptions.MissLatency)")
	delay := fs.Duration("delay", 200*time.Microsecond, "how long U waits, after T's fault began, before munmap")
	tracePath := fs.String("trace", "", "write the Chrome trace JSON of the last policy's first round here (https://ui.perfetto.dev)")
	svgPath := fs.String("svg", "", "write an SVG timeline of the last policy's first round here")
	timeline := fs.Bool("timeline", true, "print the text timeline of each policy's first round")
	quirks := fs.String("quirks", "", "comma-separated quirks, e.g. no-detach-check")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := &options{rounds: *rounds, latency: *latency, delay: *delay, trace: *tracePath, svg: *svgPath, timeline: *timeline}
	var err error
	if o.quirks, err = mmap.ParseQuirks(*quirks); err != nil {
		return nil, err
	}
	switch {
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
