package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"
)

// runFree is the free-running experiment: rounds of real goroutines
// racing, timed, per policy; then the timeline of the most telling round.
func runFree(o *options, stdout io.Writer) error {
	fmt.Fprintf(stdout, "A and C read one address in a loop; it holds %#x (old, anonymous memory).\n", oldValue)
	fmt.Fprintf(stdout, "B waits 0-%v, then maps a file holding %#x (new) over it with MAP_FIXED.\n", o.jitter, newValue)
	fmt.Fprintf(stdout, "%d rounds per policy, seed %d, quirks: %s; %d CPUs.\n", o.rounds, o.seed, o.quirks, runtime.GOMAXPROCS(0))

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
