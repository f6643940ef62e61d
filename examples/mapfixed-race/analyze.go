package main

import (
	"errors"
	"math"

	"github.com/vmsim/vmsim/mmap"
)

// finding is what one round showed.
//
// Two reads disagree when one returned the old value, the other (on the
// other thread) the new one, and their intervals overlap in time: at that
// moment A and C saw different data at one address, through different
// translations (the old frame in a TLB, the new file page). That is
// allowed while mmap(MAP_FIXED) is in progress — Linux makes no promise
// about what other threads see before the call returns.
//
// What is never allowed, and makes a round "bad":
//   - a signal: the address was mapped all along (old mapping, then new),
//     so a SIGSEGV is spurious — the reader found a gap;
//   - poison: the read went through a translation to a freed frame;
//   - garbage: a value that is neither old, new nor poison (a reused
//     frame);
//   - stale after return: old contents read by a read that began after
//     mmap returned;
//   - old after new: old contents read by a read that began after some
//     read (on either thread) had already returned the new contents,
//     which no single switch-over instant could explain;
//   - new before the call: new contents read by a read that ended before
//     mmap was even entered;
//   - old after the shootdown: old contents read by a read that began
//     after B's TLB shootdown had finished (every thread had dropped the
//     old translation, and the old frame was about to be freed);
//   - new before the shootdown: new contents read by a read that ended
//     before the shootdown had finished (the new VMA is published only
//     after it).
//
// The last two are vmsim's own order (shootdown, then publish), stricter
// than what Linux promises; each check compares a read's own stamps with
// a stamp B took after the step, so a slow clock read cannot fake a
// failure.
type finding struct {
	reads int

	disagree           bool
	winStart, winEnd   int64   // union of the overlaps of disagreeing reads
	disagreeing        [2]read // the first pair found: a read of old and an overlapping one of new
	signals            []signalSeen
	poisoned, garbage  int
	staleAfterReturn   int
	oldAfterNew        int
	newBeforeCall      int
	oldAfterShootdown  int
	newBeforeShootdown int
	oldAfterZap        int   // reads of old begun after the PTE was zapped: through a TLB entry
	newBeforeReturn    bool  // a read returned new before B's mmap returned
	firstBad           int64 // start of the first bad read, for the timeline; MaxInt64 if none
	firstBadReader     int
}

type signalSeen struct {
	reader int
	at     int64
	err    *mmap.SignalError
}

func (f *finding) bad() bool {
	return len(f.signals) > 0 || f.poisoned > 0 || f.garbage > 0 ||
		f.staleAfterReturn > 0 || f.oldAfterNew > 0 || f.newBeforeCall > 0 ||
		f.oldAfterShootdown > 0 || f.newBeforeShootdown > 0
}

// analyze classifies every read of the round.
func analyze(r *round) *finding {
	f := &finding{firstBad: math.MaxInt64, winStart: math.MaxInt64, winEnd: math.MinInt64}

	// The earliest moment a read had returned the new contents.
	firstNewEnd := int64(math.MaxInt64)
	for _, reads := range r.reads {
		for _, rd := range reads {
			if rd.err == nil && rd.value == newValue {
				firstNewEnd = min(firstNewEnd, rd.end)
			}
		}
	}
	markBad := func(i int, rd read) {
		if rd.start < f.firstBad {
			f.firstBad, f.firstBadReader = rd.start, i
		}
	}

	for i, reads := range r.reads {
		f.reads += len(reads)
		for _, rd := range reads {
			if rd.err != nil {
				var se *mmap.SignalError
				if !errors.As(rd.err, &se) {
					se = &mmap.SignalError{Addr: r.addr}
				}
				f.signals = append(f.signals, signalSeen{reader: i, at: rd.start, err: se})
				markBad(i, rd)
				continue
			}
			switch rd.value {
			case oldValue:
				switch {
				case rd.start > r.callEnd:
					f.staleAfterReturn++
					markBad(i, rd)
				case rd.start > firstNewEnd:
					f.oldAfterNew++
					markBad(i, rd)
				case r.marks.shootdown >= 0 && rd.start > r.marks.shootdown:
					f.oldAfterShootdown++
					markBad(i, rd)
				}
			case newValue:
				switch {
				case rd.end < r.callStart:
					f.newBeforeCall++
					markBad(i, rd)
				case r.marks.shootdown >= 0 && rd.end < r.marks.shootdown:
					f.newBeforeShootdown++
					markBad(i, rd)
				}
				if rd.end < r.callEnd {
					f.newBeforeReturn = true
				}
			case poisonValue:
				f.poisoned++
				markBad(i, rd)
			default:
				f.garbage++
				markBad(i, rd)
			}
		}
	}

	// Reads of old that began after B had zapped the PTE went through
	// the reader's TLB: the page table no longer had the translation.
	if r.marks.zap >= 0 {
		for _, reads := range r.reads {
			for _, rd := range reads {
				if rd.err == nil && rd.value == oldValue && rd.start > r.marks.zap {
					f.oldAfterZap++
				}
			}
		}
	}

	// Overlapping reads that saw different contents. Old reads form a
	// prefix of each reader's list and new reads a suffix, so the inner
	// loops stop early; the cost is small either way.
	for x := range 2 {
		y := 1 - x
		for _, o := range r.reads[x] {
			if o.err != nil || o.value != oldValue {
				continue
			}
			for _, n := range r.reads[y] {
				if n.err != nil || n.value != newValue || n.end < o.start {
					continue
				}
				if n.start > o.end {
					break
				}
				if !f.disagree {
					f.disagreeing = [2]read{o, n}
				}
				f.disagree = true
				f.winStart = min(f.winStart, max(o.start, n.start))
				f.winEnd = max(f.winEnd, min(o.end, n.end))
			}
		}
	}
	return f
}
