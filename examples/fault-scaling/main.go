// Command fault-scaling measures page-fault throughput against the number
// of faulting threads, for each locking policy, with and without a writer
// that churns mmap/munmap on an unrelated range.
//
// Each faulting thread maps the same file (its own VMA) and reads one
// word per page, page after page: every read is a minor fault on a page
// already in the page cache (fault-around is off, so each page is its own
// fault: VMA lookup, pin or lock, page-table lock, PTE install). After the
// last page it drops its PTEs with madvise(MADV_DONTNEED) and starts
// again. The churn writer, when on, maps and unmaps 16 anonymous pages in
// a loop, holding the mmap lock for writing in every call: the pre-6.4
// kernel's faults wait for it, the lockless policies' faults do not.
// The program prints faults per second and, timing every fourth fault,
// the median and 99th-percentile fault latency, where the waits show
// even when a busy machine blurs the throughput.
//
//	go run ./examples/fault-scaling
//	go run ./examples/fault-scaling -threads 1,2 -duration 500ms -svg fault-scaling.svg
//
// The machine's CPU count bounds what scaling can show: with 2 CPUs,
// more than two threads (or one writer and two threads) share them.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmsim/vmsim/mmap"
)

func main() {
	if err := runWith(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fault-scaling:", err)
		}
		os.Exit(2)
	}
}

// run is the whole program with progress going to stderr; main and the
// test call it.
func run(args []string, stdout io.Writer) error { return runWith(args, stdout, os.Stderr) }

type options struct {
	policies []mmap.Policy
	threads  []int
	churn    []bool
	rate     int
	repeat   int
	duration time.Duration
	pages    int
	svg      string
}

var allPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("fault-scaling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	threads := fs.String("threads", "1,2,4,8", "comma-separated numbers of faulting threads")
	churn := fs.String("churn", "both", "off, on or both: a writer doing mmap/munmap on an unrelated range")
	rate := fs.Int("churn-rate", 20000, "the churn writer's mmap+munmap pairs per second (0: as fast as it can)")
	duration := fs.Duration("duration", 100*time.Millisecond, "how long each measurement runs")
	repeat := fs.Int("repeat", 3, "measurements per cell; the table shows their median")
	pages := fs.Int("pages", 1024, "pages each thread faults before madvise(MADV_DONTNEED)")
	svg := fs.String("svg", "", "write an SVG line chart here (nothing is written without it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := &options{duration: *duration, pages: *pages, svg: *svg, rate: *rate, repeat: *repeat}
	if o.repeat < 1 {
		return nil, fmt.Errorf("-repeat %d: need at least one", o.repeat)
	}
	if o.rate < 0 {
		return nil, fmt.Errorf("-churn-rate %d is negative", o.rate)
	}
	if o.duration <= 0 {
		return nil, fmt.Errorf("-duration %v must be positive", o.duration)
	}
	if o.pages < 1 || o.pages > 1<<16 {
		return nil, fmt.Errorf("-pages %d: want 1 to 65536", o.pages)
	}
	for _, f := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("-threads %q: want numbers from 1 to 256", *threads)
		}
		o.threads = append(o.threads, n)
	}
	switch *churn {
	case "off":
		o.churn = []bool{false}
	case "on":
		o.churn = []bool{true}
	case "both":
		o.churn = []bool{false, true}
	default:
		return nil, fmt.Errorf("-churn %q: want off, on or both", *churn)
	}
	if *policy == "all" {
		o.policies = allPolicies
		return o, nil
	}
	for _, p := range allPolicies {
		if p.String() == *policy {
			o.policies = []mmap.Policy{p}
			return o, nil
		}
	}
	return nil, fmt.Errorf("unknown policy %q", *policy)
}

func runWith(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fault-scaling: minor faults per second (file pages already cached, one fault per page); median of %d runs of %v; %d CPUs\n",
		o.repeat, o.duration, runtime.GOMAXPROCS(0))
	if len(o.churn) > 1 || o.churn[0] {
		r := "as fast as it can"
		if o.rate > 0 {
			r = fmt.Sprintf("%d times a second", o.rate)
		}
		fmt.Fprintf(stdout, "churn: another thread maps and unmaps 16 anonymous pages on an unrelated range, %s\n", r)
	}

	file := newFile(o.pages)
	prog := newProgress(stderr, len(o.policies)*len(o.churn)*len(o.threads)*o.repeat)
	// Churn off and on alternate, run after run, so that a machine whose
	// load drifts during the run biases neither.
	var cells []cell
	for _, p := range o.policies {
		for _, n := range o.threads {
			runs := make([][]cell, len(o.churn))
			for range o.repeat {
				for i, ch := range o.churn {
					what := fmt.Sprintf("%s, %d thread%s, churn %s", p, n, plural(n), onOff(ch))
					prog.step(what)
					c, err := measure(p, n, ch, o.rate, o.duration, o.pages, file)
					if err != nil {
						return fmt.Errorf("%s: %w", what, err)
					}
					runs[i] = append(runs[i], c)
				}
			}
			for _, rs := range runs {
				slices.SortFunc(rs, func(a, b cell) int { return cmp.Compare(a.rate(), b.rate()) })
				cells = append(cells, rs[len(rs)/2])
			}
		}
	}
	prog.done()
	printTable(stdout, o, cells)
	if o.svg != "" {
		if err := writeChart(o.svg, o, cells); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.svg)
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// progress prints a one-line status to stderr, but only once the run has
// taken more than a second, so short runs stay quiet.
type progress struct {
	w     io.Writer
	start time.Time
	n, of int
	shown bool
}

func newProgress(w io.Writer, of int) *progress { return &progress{w: w, start: time.Now(), of: of} }

func (p *progress) step(what string) {
	p.n++
	if time.Since(p.start) < time.Second {
		return
	}
	p.shown = true
	fmt.Fprintf(p.w, "\r\033[Kfault-scaling: run %d of %d (%s), %.0fs so far", p.n, p.of, what, time.Since(p.start).Seconds())
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintf(p.w, "\r\033[K")
	}
}
