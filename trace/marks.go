package trace

// This file turns a time-ordered event list into a properly nested sequence
// of slice begins, slice ends and instants per track — what both the Chrome
// trace (B/E events must nest on a tid) and the SVG (rects stacked by depth)
// need. Recorded events do not always nest: a shared syscall track can see
// mmap begin, munmap begin, mmap end; a bounded recorder can drop an End; a
// caller can emit an End without a Begin. The repairs are:
//
//   - an End closes the innermost open slice of its kind (and, for syscalls,
//     its name); slices opened inside it are split: ended just before it and
//     reopened ("continued") just after, so nesting holds and no time is lost;
//   - an End with no open Begin becomes an instant ("unmatched");
//   - slices still open at the end of the trace are ended at the time of the
//     last event ("unfinished").

// markPhase is what a mark does, named after the Chrome "ph" letters.
type markPhase byte

const (
	markBegin   markPhase = 'B'
	markEnd     markPhase = 'E'
	markInstant markPhase = 'i'
)

// Repair notes carried by marks; "" when the event was recorded as is.
const (
	noteContinued  = "continued"  // a Begin re-opening a slice split by a crossing End
	noteSplit      = "split"      // an End inserted before a crossing End
	noteUnfinished = "unfinished" // an End inserted at the end of the trace
	noteUnmatched  = "unmatched"  // an End with no Begin, shown as an instant
)

// mark is one step of the nested sequence. Immutable once built.
type mark struct {
	phase markPhase
	time  int64
	track int
	depth int    // nesting depth of the slice (0 = outermost); 0 for instants
	begin Event  // for B and E: the Begin event of the slice
	ev    Event  // for E: the End event, or the Begin for a synthetic end; for i: the event
	note  string // one of the note constants, or ""
}

// openSlice is a slice whose End has not been seen yet.
type openSlice struct{ begin Event }

// matches reports whether end closes o.
func (o openSlice) matches(end Event) bool {
	bk, ok := end.Kind.beginOf()
	if !ok || o.begin.Kind != bk {
		return false
	}
	return bk != SyscallBegin || o.begin.Name == end.Name
}

// buildMarks converts events (sorted by time, as Recorder.Events returns
// them) into marks that nest properly per track.
func buildMarks(evs []Event) []mark {
	marks := make([]mark, 0, len(evs))
	stacks := map[int][]openSlice{}
	var tracks []int // tracks with a stack, in first-seen order, for determinism
	var last int64
	for _, e := range evs {
		last = max(last, e.Time)
		st, seen := stacks[e.Track]
		if !seen {
			tracks = append(tracks, e.Track)
		}
		switch {
		case e.Kind.isBegin():
			marks = append(marks, mark{phase: markBegin, time: e.Time, track: e.Track, depth: len(st), begin: e})
			st = append(st, openSlice{begin: e})
		case isEnd(e.Kind):
			i := len(st) - 1
			for i >= 0 && !st[i].matches(e) {
				i--
			}
			if i < 0 {
				marks = append(marks, mark{phase: markInstant, time: e.Time, track: e.Track, ev: e, note: noteUnmatched})
				break
			}
			inner := st[i+1:]
			for j := len(inner) - 1; j >= 0; j-- {
				marks = append(marks, mark{phase: markEnd, time: e.Time, track: e.Track, depth: i + 1 + j,
					begin: inner[j].begin, ev: inner[j].begin, note: noteSplit})
			}
			marks = append(marks, mark{phase: markEnd, time: e.Time, track: e.Track, depth: i, begin: st[i].begin, ev: e})
			for j, o := range inner {
				marks = append(marks, mark{phase: markBegin, time: e.Time, track: e.Track, depth: i + j,
					begin: o.begin, note: noteContinued})
			}
			st = append(st[:i], inner...)
		default:
			marks = append(marks, mark{phase: markInstant, time: e.Time, track: e.Track, ev: e})
		}
		stacks[e.Track] = st
	}
	for _, t := range tracks {
		st := stacks[t]
		for j := len(st) - 1; j >= 0; j-- {
			marks = append(marks, mark{phase: markEnd, time: last, track: t, depth: j,
				begin: st[j].begin, ev: st[j].begin, note: noteUnfinished})
		}
	}
	return marks
}

// isEnd reports whether k closes a slice.
func isEnd(k Kind) bool {
	_, ok := k.beginOf()
	return ok
}

// sliceLabel is the short name of the slice a Begin event opens.
func sliceLabel(begin Event) string {
	switch begin.Kind {
	case SyscallBegin:
		if begin.Name == "" {
			return "syscall"
		}
		return oneLine(begin.Name)
	case FaultBegin:
		return "fault"
	case ShootdownBegin:
		return "shootdown"
	case GraceBegin:
		return "grace period"
	}
	return begin.Kind.String()
}
