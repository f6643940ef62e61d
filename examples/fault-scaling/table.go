package main

import (
	"fmt"
	"io"
	"strings"
)

// human formats a rate as 1.52M or 830k.
func human(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.0fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func find(cells []cell, pol string, churn bool, threads int) (cell, bool) {
	for _, c := range cells {
		if c.policy.String() == pol && c.churn == churn && c.threads == threads {
			return c, true
		}
	}
	return cell{}, false
}

// printTable prints faults per second, one row per policy and churn
// setting, one column per thread count; then, for churn rows, how much
// of the churn-free throughput was left and how fast the writer went.
func printTable(w io.Writer, o *options, cells []cell) {
	fmt.Fprintln(w)
	printGrid(w, o, cells, 12, func(c cell) string { return human(c.rate()) })
	fmt.Fprintf(w, "\nfault latency, p50 / p99 (every %dth fault timed):\n", sampleEvery)
	printGrid(w, o, cells, 16, func(c cell) string {
		return us(c.quantile(0.5)) + " / " + us(c.quantile(0.99))
	})
	if len(o.churn) < 2 {
		return
	}
	fmt.Fprintf(w, "\nwith churn, as a share of the throughput without it (and the pairs per second the writer managed):\n")
	for _, p := range o.policies {
		var parts []string
		for _, n := range o.threads {
			off, _ := find(cells, p.String(), false, n)
			on, _ := find(cells, p.String(), true, n)
			share := 0.0
			if off.rate() > 0 {
				share = 100 * on.rate() / off.rate()
			}
			parts = append(parts, fmt.Sprintf("%3.0f%% (%s/s)", share, human(float64(on.churned)/on.elapsed.Seconds())))
		}
		fmt.Fprintf(w, "%-14s %s\n", p, strings.Join(parts, "  "))
	}
	fmt.Fprintf(w, "\nhow the faults went with churn on (all thread counts together):\n")
	for _, p := range o.policies {
		var fs, fast, slow, retries, fallbacks, aborts, locked int64
		for _, c := range cells {
			if c.policy == p && c.churn {
				s := c.stats
				fs += s.Pgfault
				fast += s.FastPath
				slow += s.SlowPath
				retries += s.Retries
				fallbacks += s.Fallbacks
				aborts += s.VMALockAbort
				locked += s.LockedFaults
			}
		}
		fmt.Fprintf(w, "%-14s %d faults: %d fast path, %d slow path, %d under the mmap lock, %d retries, %d fallbacks, %d per-VMA lock aborts\n",
			p, fs, fast, slow, locked, retries, fallbacks, aborts)
	}
}

// printGrid prints one row per policy and churn setting and one column,
// width wide, per thread count, each cell formatted by f.
func printGrid(w io.Writer, o *options, cells []cell, width int, f func(cell) string) {
	fmt.Fprintf(w, "%-14s %-6s", "policy", "churn")
	for _, n := range o.threads {
		fmt.Fprintf(w, " %*s", width, fmt.Sprintf("%d thread%s", n, plural(n)))
	}
	fmt.Fprintln(w)
	for _, p := range o.policies {
		for _, ch := range o.churn {
			fmt.Fprintf(w, "%-14s %-6s", p, onOff(ch))
			for _, n := range o.threads {
				c, _ := find(cells, p.String(), ch, n)
				fmt.Fprintf(w, " %*s", width, f(c))
			}
			fmt.Fprintln(w)
		}
	}
}

// us formats nanoseconds as microseconds.
func us(ns int64) string { return fmt.Sprintf("%.1fµs", float64(ns)/1e3) }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
