// Command custom-driver maps two user-written backings with
// AddressSpace.MmapBacking — one that implements only fault.Ops (the slow
// path, Fault) and one that also implements fault.PageMapper (the fast
// path, MapPages) — and shows, for each locking policy, how many faults
// each took on the fast path and the slow path (Stats) and how long the
// faults took (from the trace: the time between each fault's begin and
// end events).
//
// Each backing is a made-up device that produces its pages on demand and
// keeps them (see driver.go, the code to copy when writing a backing).
// One thread reads every page twice: cold, when the device must produce
// each page, and warm, after madvise(MADV_DONTNEED) has dropped the PTEs
// but the device still has every page. Warm, the Fault-only backing takes
// one slow-path fault per page; the PageMapper backing maps the pages
// around each fault (fault-around, 16 pages) without a reference on the
// VMA, so it takes a sixteenth of the faults, all on the fast path under
// rcu-refcount.
//
//	go run ./examples/custom-driver
//	go run ./examples/custom-driver -policy rcu-refcount -pages 4096 -latency 20us
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

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/trace"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "custom-driver:", err)
		}
		os.Exit(2)
	}
}

var allPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

// pass is one read of every page of one backing.
type pass struct {
	backing, name string
	reads         int
	stats         fault.Snapshot // the counters' increase during the pass
	latencies     []int64        // ns, one per fault
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custom-driver", flag.ContinueOnError)
	policy := fs.String("policy", "all", "all, rcu-refcount, mmap-lock or per-vma-lock")
	pages := fs.Int("pages", 256, "pages in each device")
	latency := fs.Duration("latency", 0, "how long the device takes to produce a page (the cold pass sleeps this long per page)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *pages < 1 || *pages > 1<<16 {
		return fmt.Errorf("-pages %d: want 1 to 65536", *pages)
	}
	if *latency < 0 {
		return fmt.Errorf("-latency %v is negative", *latency)
	}
	policies := allPolicies
	if *policy != "all" {
		policies = nil
		for _, p := range allPolicies {
			if p.String() == *policy {
				policies = []mmap.Policy{p}
			}
		}
		if policies == nil {
			return fmt.Errorf("unknown policy %q", *policy)
		}
	}

	fmt.Fprintf(stdout, "custom-driver: two user-written backings, %d pages each, mapped with MmapBacking and read page by page by one thread:\n", *pages)
	fmt.Fprintf(stdout, "  ops-only implements fault.Ops (Fault); mapper also implements fault.PageMapper (MapPages).\n")
	fmt.Fprintf(stdout, "  cold: the device produces each page (latency %v); warm: after MADV_DONTNEED, the device still has them.\n", *latency)
	for _, p := range policies {
		res, err := runPolicy(p, *pages, *latency)
		if err != nil {
			return fmt.Errorf("policy %s: %w", p, err)
		}
		report(stdout, p, res.passes, res.check)
	}
	return nil
}

// policyRun is what runPolicy measured.
type policyRun struct {
	passes []pass
	check  error // AddressSpace.Check at the end
}

// runPolicy maps both devices in one address space under policy p and
// reads each twice.
func runPolicy(p mmap.Policy, pages int, latency time.Duration) (policyRun, error) {
	rec := trace.NewRecorder()
	as, err := mmap.New(mmap.Config{Policy: p, Trace: rec})
	if err != nil {
		return policyRun{}, err
	}
	defer as.Close()
	length := uint64(pages) * mmap.PageSize
	backings := []struct {
		name string
		b    mmap.Backing
	}{
		{"ops-only", newDevice("/dev/ops-only", pages, latency)},
		{"mapper", mapper{newDevice("/dev/mapper", pages, latency)}},
	}
	var passes []pass
	for _, bk := range backings {
		addr, err := as.MmapBacking(0, length, mmap.ProtRead, mmap.MapShared, bk.b, 0)
		if err != nil {
			return policyRun{}, fmt.Errorf("MmapBacking(%s): %w", bk.name, err)
		}
		t := as.NewThreadNamed(bk.name)
		for _, name := range []string{"cold", "warm"} {
			if name == "warm" {
				if err := t.Madvise(addr, length, mmap.MadvDontneed); err != nil {
					return policyRun{}, err
				}
			}
			ps, err := readAll(as, rec, t, addr, pages)
			if err != nil {
				return policyRun{}, fmt.Errorf("%s, %s pass: %w", bk.name, name, err)
			}
			ps.backing, ps.name = bk.name, name
			passes = append(passes, ps)
		}
		t.Close()
	}
	// The devices declare the pages they keep (CachedFrames), so the
	// frame census of Check accounts for them, mapped or not.
	return policyRun{passes, as.Check()}, nil
}

// readAll reads word 0 of every page, checks it, and returns the counters'
// increase and the durations of the faults t took meanwhile.
func readAll(as *mmap.AddressSpace, rec *trace.Recorder, t *mmap.Thread, addr uint64, pages int) (pass, error) {
	before := as.Stats().Snapshot
	from := rec.Now()
	for n := range pages {
		v, err := t.ReadUint64(addr + uint64(n)*mmap.PageSize)
		if err != nil {
			return pass{}, err
		}
		if v != magic+uint64(n) {
			return pass{}, fmt.Errorf("page %d holds %#x, want %#x", n, v, magic+uint64(n))
		}
	}
	to := rec.Now()
	after := as.Stats().Snapshot
	ps := pass{reads: pages, stats: sub(after, before)}

	// The fault durations: FaultBegin to FaultEnd on t's track.
	tracks := rec.Tracks()
	begin := int64(-1)
	for _, e := range rec.Events() {
		if e.Time < from || e.Time > to || tracks[e.Track] != t.Name() {
			continue
		}
		switch e.Kind {
		case trace.FaultBegin:
			begin = e.Time
		case trace.FaultEnd:
			if begin >= 0 {
				ps.latencies = append(ps.latencies, e.Time-begin)
				begin = -1
			}
		}
	}
	return ps, nil
}

func sub(a, b fault.Snapshot) fault.Snapshot {
	return fault.Snapshot{
		Pgfault: a.Pgfault - b.Pgfault, Pgmajfault: a.Pgmajfault - b.Pgmajfault,
		FastPath: a.FastPath - b.FastPath, SlowPath: a.SlowPath - b.SlowPath,
		Retries: a.Retries - b.Retries, Fallbacks: a.Fallbacks - b.Fallbacks,
		LockedFaults: a.LockedFaults - b.LockedFaults, VMALockSuccess: a.VMALockSuccess - b.VMALockSuccess,
		Installs: a.Installs - b.Installs,
	}
}

func us(ns int64) string {
	if ns >= 1e6 {
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
}

// percentile returns the q-th quantile (0..1) of sorted xs, nearest rank.
func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func report(w io.Writer, p mmap.Policy, passes []pass, checkErr error) {
	fmt.Fprintf(w, "\npolicy %s\n", p)
	fmt.Fprintf(w, "  %-9s %-5s %6s %7s %6s %6s %8s %6s %8s %9s %9s %9s %9s\n",
		"backing", "pass", "reads", "faults", "fast", "slow", "locked", "major", "installs", "p50", "p99", "max", "total")
	for _, ps := range passes {
		lat := slices.Clone(ps.latencies)
		slices.Sort(lat)
		s := ps.stats
		var total int64
		for _, l := range lat {
			total += l
		}
		fmt.Fprintf(w, "  %-9s %-5s %6d %7d %6d %6d %8d %6d %8d %9s %9s %9s %9s\n",
			ps.backing, ps.name, ps.reads, s.Pgfault, s.FastPath, s.SlowPath, s.LockedFaults, s.Pgmajfault, s.Installs,
			us(percentile(lat, 0.5)), us(percentile(lat, 0.99)), us(percentile(lat, 1)), us(total))
	}
	if checkErr != nil {
		fmt.Fprintf(w, "  Check: FAILED: %v\n", checkErr)
	} else {
		fmt.Fprintf(w, "  Check: OK\n")
	}
	var warm []string
	for _, ps := range passes {
		if ps.name != "warm" {
			continue
		}
		lat := slices.Clone(ps.latencies)
		slices.Sort(lat)
		warm = append(warm, fmt.Sprintf("%s took %d faults for %d pages (%d fast path, %d slow path; median %s)",
			ps.backing, ps.stats.Pgfault, ps.reads, ps.stats.FastPath, ps.stats.SlowPath, us(percentile(lat, 0.5))))
	}
	fmt.Fprintf(w, "warm %s: %s\n", p, strings.Join(warm, "; "))
}
