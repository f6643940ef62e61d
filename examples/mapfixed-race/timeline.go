package main

import (
	"fmt"
	"io"
	"os"

	"github.com/vmsim/vmsim/trace"
)

// margin is how much of the round before and after B's call the
// timelines show.
const margin = 3000 // ns

// window returns the part of the round worth drawing: B's call with a
// margin, stretched to each reader's first load of new (a reader that
// waited in a fault reads it after B returns; but not beyond 10 margins
// after the return, lest one descheduled reader squash the picture), to
// the whole of the first pair of reads that disagreed (a load event is
// stamped when its read ends, so a read descheduled after its load shows
// late, and the window must reach it) and to the first bad read.
func window(r *round, f *finding) (lo, hi int64) {
	lo, hi = r.callStart-margin, r.callEnd+margin
	for _, loads := range r.loads {
		for k, e := range loads {
			if e.Time > r.callStart && e.Value == newValue {
				hi = max(hi, min(e.Time+margin/3, r.callEnd+10*margin))
				if k > 0 { // the reader's last load before it, at most 100µs back
					lo = min(lo, max(loads[k-1].Time-margin/3, r.callStart-100*margin/3))
				}
				break
			}
		}
	}
	if f != nil && f.disagree {
		for _, rd := range f.disagreeing {
			lo = min(lo, rd.start-margin/3)
			hi = max(hi, rd.end+margin/3)
		}
	}
	if f != nil && f.bad() {
		lo = min(lo, f.firstBad-margin)
		hi = max(hi, f.firstBad+margin)
	}
	return lo, hi
}

// focus returns a filter that keeps the events of [lo, hi], except that
// of each run of identical accesses by a reader it keeps only the first
// and the last: a reader makes hundreds of identical loads while B is
// inside mmap (or, with a quirk, takes hundreds of identical SIGSEGVs),
// and what matters is where its accesses change. An access is the events
// a reader records for one read, up to its Load or Signal.
func focus(r *round, lo, hi int64) (keep func(trace.Event) bool, omitted int) {
	tracks := r.rec.Tracks()
	kept := make(map[trace.Event]bool)
	type access struct {
		events []trace.Event
		key    string
	}
	runs := map[int][]access{} // per reader track: the current run of identical accesses
	cur := map[int]*access{}   // per reader track: the access being collected
	flush := func(tr int) {
		run := runs[tr]
		for k, a := range run {
			if k == 0 || k == len(run)-1 {
				for _, e := range a.events {
					kept[e] = true
				}
			} else {
				omitted++
			}
		}
		runs[tr] = nil
	}
	for _, e := range r.rec.Events() {
		if e.Time < lo || e.Time > hi {
			continue
		}
		if name := tracks[e.Track]; name != readerNames[0] && name != readerNames[1] {
			kept[e] = true
			continue
		}
		a := cur[e.Track]
		if a == nil {
			a = &access{}
			cur[e.Track] = a
		}
		a.events = append(a.events, e)
		a.key += fmt.Sprintf("%d|%s|%s|%x;", e.Kind, e.Arg, e.Err, e.Value)
		if e.Kind != trace.Load && e.Kind != trace.Signal {
			continue
		}
		if run := runs[e.Track]; len(run) > 0 && run[0].key != a.key {
			flush(e.Track)
		}
		runs[e.Track] = append(runs[e.Track], *a)
		cur[e.Track] = nil
	}
	// An access cut off by the window's end is not one of the run
	// before it: keep that run's last access, then the partial one.
	for tr, a := range cur {
		if a != nil {
			flush(tr)
			runs[tr] = []access{*a}
		}
	}
	for tr := range runs {
		flush(tr)
	}
	return func(e trace.Event) bool { return kept[e] }, omitted
}

// writeTimeline prints the text timeline of r around B's call.
func writeTimeline(w io.Writer, r *round, f *finding) error {
	lo, hi := window(r, f)
	keep, omitted := focus(r, lo, hi)
	fmt.Fprintf(w, "  (%s before B's mmap to %s after it; %d reads that repeat the one before and after them are left out)\n",
		us(r.callStart-lo), us(hi-r.callEnd), omitted)
	if err := trace.WriteText(w, r.rec, trace.TextOptions{Width: 30, Filter: keep}); err != nil {
		return err
	}
	for _, note := range lateLoads(r, keep) {
		fmt.Fprintf(w, "  note: %s\n", note)
	}
	return nil
}

// lateStamp is how far after the start of a read that did not fault its
// load event must be stamped to deserve a note.
const lateStamp = 5000 // ns

// lateLoads explains loads that the timeline shows later than they
// happened. A load event is stamped when the thread records it, after the
// access has ended, so a reader descheduled in between shows an old value
// after the syscall that removed it — although the TLB shootdown waited
// for that very access. The reader's own stamp from before the read says
// when it really began.
func lateLoads(r *round, keep func(trace.Event) bool) []string {
	events := r.rec.Events()
	origin := int64(-1) // WriteText's zero: the first event it writes
	for _, e := range events {
		if keep(e) {
			origin = e.Time
			break
		}
	}
	tracks := r.rec.Tracks()
	var notes []string
	for i, name := range readerNames {
		// The reader's accesses in order: one Load or Signal each, the
		// first being the read that faulted the old page in.
		var accesses []trace.Event
		faulted := map[int]bool{} // index into accesses: a fault began since the previous access
		sinceLast := false
		for _, e := range events {
			if tracks[e.Track] != name {
				continue
			}
			switch e.Kind {
			case trace.FaultBegin:
				sinceLast = true
			case trace.Load, trace.Signal:
				faulted[len(accesses)] = sinceLast
				accesses = append(accesses, e)
				sinceLast = false
			}
		}
		if len(accesses) != len(r.reads[i])+1 {
			continue // cannot pair them up; say nothing rather than guess
		}
		for k, rd := range r.reads[i] {
			e := accesses[k+1]
			if !keep(e) || faulted[k+1] || e.Time-rd.start < lateStamp {
				continue
			}
			notes = append(notes, fmt.Sprintf("%s's load at %.3f is stamped late: that read began at %.3f and did not fault (%s was descheduled after the load)",
				name, float64(e.Time-origin)/1e3, float64(rd.start-origin)/1e3, name))
		}
	}
	return notes
}

// writeFiles writes the Chrome trace JSON (the whole round) and the SVG
// (the window around B's call) of r.
func writeFiles(stdout io.Writer, r *round, f *finding, why, jsonPath, svgPath string) error {
	if jsonPath != "" {
		if err := writeFile(jsonPath, func(w io.Writer) error { return trace.WriteChromeJSON(w, r.rec) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: policy %s, round %d (%s); open https://ui.perfetto.dev and drag the file in\n",
			jsonPath, r.policy, r.n, why)
	}
	if svgPath != "" {
		lo, hi := window(r, f)
		keep, _ := focus(r, lo, hi)
		opt := trace.SVGOptions{
			Title:  fmt.Sprintf("mapfixed-race: policy %s, round %d — A and C read %#x while B calls mmap(MAP_FIXED)", r.policy, r.n, r.addr),
			Filter: keep,
		}
		if err := writeFile(svgPath, func(w io.Writer) error { return trace.WriteSVG(w, r.rec, opt) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: policy %s, round %d (%s)\n", svgPath, r.policy, r.n, why)
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
