package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
)

// summary accumulates the rounds of one policy.
type summary struct {
	policy mmap.Policy
	quirks mmap.Quirks
	rounds int
	reads  int
	calls  []int64 // how long each mmap(MAP_FIXED) took, ns

	// Steps inside B's call, ns after entry, one per round that had them.
	zaps, shootdowns, publishes, earlyPublishes []int64

	disagreeRounds  int
	longest         int64 // ns
	longestRound    int
	oldAfterZap     int // rounds where a reader loaded old through its TLB after the PTE was zapped
	newBeforeReturn int // rounds where a reader read new before mmap returned

	signals, signalRounds int
	signalKinds           map[string]int
	poisoned, garbage     int
	stale, oldAfterNew    int
	newBeforeCall         int
	oldAfterShootdown     int
	newBeforeShootdown    int
	badRounds             int

	faults       fault.Snapshot
	nrShootdowns int64
	firstBad     *round
	firstBadF    *finding
	best         *round // the most telling good round, for the timeline
	bestF        *finding
	bestScore    int
	bestSpan     int64 // the best round's timeline window, ns
	anyDisagreed bool
}

func newSummary(p mmap.Policy, q mmap.Quirks) *summary {
	return &summary{policy: p, quirks: q, signalKinds: map[string]int{}, bestScore: -1}
}

func (s *summary) add(r *round, f *finding) {
	s.rounds++
	s.reads += f.reads
	s.calls = append(s.calls, r.callEnd-r.callStart)
	m := r.marks
	for _, x := range []struct {
		at   int64
		list *[]int64
	}{{m.zap, &s.zaps}, {m.shootdown, &s.shootdowns}, {m.publish, &s.publishes}, {m.earlyPublish, &s.earlyPublishes}} {
		if x.at >= 0 {
			*x.list = append(*x.list, x.at-r.callStart)
		}
	}
	if f.disagree {
		s.disagreeRounds++
		if w := f.winEnd - f.winStart; !s.anyDisagreed || w > s.longest {
			s.longest, s.longestRound = w, r.n
		}
		s.anyDisagreed = true
	}
	if f.oldAfterZap > 0 {
		s.oldAfterZap++
	}
	if f.newBeforeReturn {
		s.newBeforeReturn++
	}
	if len(f.signals) > 0 {
		s.signals += len(f.signals)
		s.signalRounds++
		for _, sg := range f.signals {
			s.signalKinds[signalName(sg.err)]++
		}
	}
	s.poisoned += f.poisoned
	s.garbage += f.garbage
	s.stale += f.staleAfterReturn
	s.oldAfterNew += f.oldAfterNew
	s.newBeforeCall += f.newBeforeCall
	s.oldAfterShootdown += f.oldAfterShootdown
	s.newBeforeShootdown += f.newBeforeShootdown
	if f.bad() {
		s.badRounds++
		if s.firstBad == nil {
			s.firstBad, s.firstBadF = r, f
		}
	}
	// The round that shows the most: a reader still loading old through
	// its TLB after the zap, a reader loading new before B returned, and
	// the two disagreeing.
	score := 0
	for _, b := range []bool{f.oldAfterZap > 0, f.newBeforeReturn, f.disagree} {
		if b {
			score++
		}
	}
	// Among equally telling rounds, draw the shortest: one where no
	// goroutine was descheduled for long reads best.
	lo, hi := window(r, f)
	if score > s.bestScore || score == s.bestScore && hi-lo < s.bestSpan {
		s.best, s.bestF, s.bestScore, s.bestSpan = r, f, score, hi-lo
	}
	addSnapshot(&s.faults, r.stats.Snapshot)
	s.nrShootdowns += r.stats.Shootdowns
}

// showcase returns the round to draw: the first bad one, else the most
// telling good one.
func (s *summary) showcase() (*round, *finding, string) {
	if s.firstBad != nil {
		return s.firstBad, s.firstBadF, "the first round that went wrong"
	}
	why := "the last round"
	switch s.bestScore {
	case 3:
		why = "a reader read old through its TLB after the zap, one read new before B returned, and their reads overlapped"
	case 2, 1:
		var parts []string
		if s.bestF.oldAfterZap > 0 {
			parts = append(parts, "a reader read old through its TLB after the zap")
		}
		if s.bestF.newBeforeReturn {
			parts = append(parts, "a reader read new before B returned")
		}
		if s.bestF.disagree {
			parts = append(parts, "A's and C's reads overlapped and disagreed")
		}
		why = strings.Join(parts, ", ")
	}
	return s.best, s.bestF, why
}

func signalName(e *mmap.SignalError) string {
	switch {
	case e.Signo == mmap.SIGSEGV && e.Code == mmap.SegvMaperr:
		return "SIGSEGV (SEGV_MAPERR)"
	case e.Signo == mmap.SIGSEGV && e.Code == mmap.SegvAccerr:
		return "SIGSEGV (SEGV_ACCERR)"
	case e.Signo == mmap.SIGBUS:
		return "SIGBUS (BUS_ADRERR)"
	}
	return e.Signo.String()
}

func addSnapshot(dst *fault.Snapshot, s fault.Snapshot) {
	dst.Pgfault += s.Pgfault
	dst.Pgmajfault += s.Pgmajfault
	dst.FastPath += s.FastPath
	dst.SlowPath += s.SlowPath
	dst.Retries += s.Retries
	dst.Fallbacks += s.Fallbacks
	dst.LockedFaults += s.LockedFaults
	dst.VMALockSuccess += s.VMALockSuccess
	dst.VMALockAbort += s.VMALockAbort
	dst.VMALockRetry += s.VMALockRetry
	dst.VMALockMiss += s.VMALockMiss
	dst.Installs += s.Installs
	dst.InstallRaced += s.InstallRaced
	dst.SegvMaperr += s.SegvMaperr
	dst.SegvAccerr += s.SegvAccerr
	dst.Sigbus += s.Sigbus
}

// us formats nanoseconds for people: µs below a millisecond, ms above.
func us(ns int64) string {
	if ns >= 1e6 || ns <= -1e6 {
		return fmt.Sprintf("%.1fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
}

func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d rounds", n)
}

func median(xs []int64) int64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "\npolicy %s (quirks: %s): %d rounds, %d reads\n", s.policy, s.quirks, s.rounds, s.reads)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-21s %s\n", label, fmt.Sprintf(format, args...))
	}

	steps := []string{fmt.Sprintf("took %s (max %s)", us(median(s.calls)), us(slices.Max(s.calls)))}
	if len(s.zaps) > 0 {
		steps = append(steps, "zap "+us(median(s.zaps)))
	}
	if len(s.earlyPublishes) > 0 {
		steps = append(steps, "unmap published alone "+us(median(s.earlyPublishes)))
	}
	if len(s.shootdowns) > 0 {
		steps = append(steps, "TLB shootdown done "+us(median(s.shootdowns)))
	} else {
		steps = append(steps, "no TLB shootdown")
	}
	if len(s.publishes) > 0 {
		steps = append(steps, "new VMA published "+us(median(s.publishes)))
	}
	line("B's mmap(MAP_FIXED)", "%s (medians, after entry)", strings.Join(steps, ", "))

	line("A and C disagreed", "in %d of %d rounds (%.0f%%): a read returning old overlapped a read on the other thread returning new",
		s.disagreeRounds, s.rounds, 100*float64(s.disagreeRounds)/float64(s.rounds))
	if s.anyDisagreed {
		line("longest disagreement", "%s (round %d): how long the two reads overlapped — a read that waits in a fault,", us(s.longest), s.longestRound)
		line("", "or whose goroutine is descheduled, stretches it; the loads themselves never crossed (below)")
	}
	if len(s.shootdowns) > 0 && s.oldAfterShootdown == 0 && s.newBeforeShootdown == 0 && s.newBeforeCall == 0 && s.stale == 0 && s.oldAfterNew == 0 {
		line("where", "all inside mmap(): every read of old began before B's TLB shootdown finished, every read of new")
		line("", "returned after it (old read through a TLB entry after the PTE was zapped: %s; new read before", rounds(s.oldAfterZap))
		line("", "mmap() returned: %s)", rounds(s.newBeforeReturn))
	} else {
		line("where", "old read through a TLB entry after the zap: %s; new read before mmap() returned: %s", rounds(s.oldAfterZap), rounds(s.newBeforeReturn))
	}
	if s.signals == 0 {
		line("spurious signals", "0")
	} else {
		var kinds []string
		for k, n := range s.signalKinds {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
		slices.Sort(kinds)
		line("spurious signals", "%s in %s — the address was mapped all along", strings.Join(kinds, ", "), rounds(s.signalRounds))
		line("", "(a reader that carries on faults again until the new VMA is published; a process would have died at the first)")
	}
	line("poisoned reads", "%-5d (%#x: the frame had been freed)", s.poisoned, poisonValue)
	line("garbage reads", "%-5d (neither old, new nor poison: a reused frame)", s.garbage)
	line("stale after return", "%-5d (old contents, read by a read that began after mmap() returned)", s.stale)
	line("old after new", "%-5d (old contents, read by a read that began after another had returned new)", s.oldAfterNew)
	if s.oldAfterShootdown+s.newBeforeShootdown+s.newBeforeCall > 0 {
		line("out of order", "%d reads of old began after the shootdown, %d reads of new returned before it, %d before mmap() began",
			s.oldAfterShootdown, s.newBeforeShootdown, s.newBeforeCall)
	}
	fs := s.faults
	line("faults", "%d: %d fast path, %d slow path, %d retries, %d fallbacks to the mmap lock, %d per-VMA lock aborts",
		fs.Pgfault, fs.FastPath, fs.SlowPath, fs.Retries, fs.Fallbacks, fs.VMALockAbort)
	fmt.Fprintf(w, "verdict %s: %s\n", s.policy, s.verdict())
}

func (s *summary) verdict() string {
	if s.badRounds == 0 {
		if s.disagreeRounds == 0 {
			return fmt.Sprintf("OK — no disagreement seen in %d rounds; never a gap, never poison, never stale after mmap(MAP_FIXED) returns", s.rounds)
		}
		return "OK — readers may disagree only while mmap(MAP_FIXED) is in progress; never a gap, never poison"
	}
	var why []string
	if s.signals > 0 {
		w := "spurious SIGSEGV: a reader found no mapping while one was being replaced"
		if s.quirks.Has(mmap.QuirkNonAtomicFixedReplace) {
			w += " (the unmap was published before the new VMA, as before Linux 6.12"
			if s.quirks.Has(mmap.QuirkNoLockFallback) {
				w += ", and no-lock-fallback made the failed lookup final"
			}
			w += ")"
		}
		why = append(why, w)
	}
	if s.poisoned > 0 {
		why = append(why, fmt.Sprintf("%d poisoned reads (use after free)", s.poisoned))
	}
	if s.garbage > 0 {
		why = append(why, fmt.Sprintf("%d garbage reads", s.garbage))
	}
	if s.stale > 0 {
		why = append(why, fmt.Sprintf("%d stale reads after mmap() returned", s.stale))
	}
	if s.oldAfterNew > 0 {
		why = append(why, fmt.Sprintf("%d reads of old contents after new ones had been read", s.oldAfterNew))
	}
	if n := s.oldAfterShootdown + s.newBeforeShootdown + s.newBeforeCall; n > 0 {
		why = append(why, fmt.Sprintf("%d reads out of order with B's TLB shootdown", n))
	}
	return fmt.Sprintf("BROKEN in %d of %d rounds — %s", s.badRounds, s.rounds, strings.Join(why, "; "))
}
