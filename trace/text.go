package trace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TextOptions configures WriteText. The zero value is ready to use. It is
// only read; Filter is called on the goroutine running WriteText.
type TextOptions struct {
	// Width is the width of each track's column in characters (runes);
	// 0 means 28. Widths below 4 are raised to 4.
	Width int
	// Filter, if not nil, keeps only the events for which it returns true.
	Filter func(Event) bool
	// StepNanos, if positive, prints times as step numbers of a
	// controlled run whose virtual clock advances StepNanos per step
	// (sched.StepNanos): the column is headed "step" and shows
	// Time/StepNanos, not relative to the first event.
	StepNanos int64
}

// WriteText writes r's events as a text timeline: one column per track,
// time running downwards, one line per event. Each line starts with the
// event's time in microseconds relative to the first event written, and the
// event's description (Event.String) starts at the left edge of its track's
// column:
//
//	   µs  syscalls                    thread 1
//	       --------------------------- ---------------------------
//	0.000  mmap(NULL, 4096, ...)
//	1.500                              fault write 0x7ffff7ff0000
//
// Track names longer than a column are shortened in the header; an event's
// description is never shortened (it may run past its column, since each
// line holds only one event). A final line starting with "#" reports events
// dropped by a bounded recorder. Lines carry no trailing spaces.
//
// Safe to call concurrently with recording (see Recorder.Events).
func WriteText(w io.Writer, r *Recorder, opt TextOptions) error {
	width := opt.Width
	if width == 0 {
		width = 28
	}
	width = max(width, 4)
	names := r.Tracks()
	evs := filterEvents(r.Events(), opt.Filter)

	// The time column is as wide as the widest time, so columns never shift.
	head := "µs"
	if opt.StepNanos > 0 {
		head = "step"
	}
	var t0 int64
	if len(evs) > 0 {
		t0 = evs[0].Time
	}
	times := make([]string, len(evs))
	timeW := utf8.RuneCountInString(head)
	for i, e := range evs {
		if opt.StepNanos > 0 {
			times[i] = strconv.FormatInt(e.Time/opt.StepNanos, 10)
		} else {
			times[i] = formatMicros(e.Time - t0)
		}
		timeW = max(timeW, len(times[i]))
	}
	const gap = "  "

	bw := bufio.NewWriter(w)
	var line strings.Builder
	flush := func() {
		bw.WriteString(strings.TrimRight(line.String(), " "))
		bw.WriteByte('\n')
		line.Reset()
	}
	pad := func(n int) {
		for range n {
			line.WriteByte(' ')
		}
	}

	// Header: the track names, then a rule under each column.
	pad(timeW - utf8.RuneCountInString(head))
	line.WriteString(head + gap)
	for _, name := range names {
		name = truncateRunes(oneLine(name), width-1)
		line.WriteString(name)
		pad(width - utf8.RuneCountInString(name))
	}
	flush()
	pad(timeW + len(gap))
	for range names {
		line.WriteString(strings.Repeat("-", width-1) + " ")
	}
	flush()

	for i, e := range evs {
		pad(timeW - len(times[i]))
		line.WriteString(times[i] + gap)
		pad(e.Track * width)
		line.WriteString(e.String())
		flush()
	}
	if d := r.Dropped(); d > 0 {
		fmt.Fprintf(bw, "# %d events dropped (recorder limit)\n", d)
	}
	return bw.Flush()
}

// formatMicros formats a duration in nanoseconds as microseconds with three
// decimals (exact: no floating point).
func formatMicros(ns int64) string {
	sign, u := "", uint64(ns)
	if ns < 0 {
		sign, u = "-", -u // two's complement: right even for math.MinInt64
	}
	frac := strconv.FormatUint(u%1000, 10)
	return sign + strconv.FormatUint(u/1000, 10) + "." + strings.Repeat("0", 3-len(frac)) + frac
}

// truncateRunes shortens s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// filterEvents returns the events keep accepts (all of them if keep is nil).
func filterEvents(evs []Event, keep func(Event) bool) []Event {
	if keep == nil {
		return evs
	}
	out := evs[:0]
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
