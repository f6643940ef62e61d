package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/trace"
)

// runReplay runs the schedule of o.replay and prints what it did and its
// timeline, and draws it if asked.
func runReplay(o *options, w io.Writer) error {
	p := o.policies[0]
	fmt.Fprintf(w, "Replay of one schedule under policy %s, quirks: %s.\n\n", p, o.quirks)
	r, err := explore.Run(explore.Options{Replay: o.replay}, scenario(p, o.quirks))
	if err != nil {
		return err
	}
	for _, out := range slices.Sorted(maps.Keys(r.Outcomes)) {
		var parts []string
		for i, word := range outcomeWords(out) {
			parts = append(parts, reads[i].label+" "+word)
		}
		fmt.Fprintf(w, "outcome: %s\n", strings.Join(parts, ", "))
	}
	f := r.Replayed
	if f.Err != nil {
		fmt.Fprintf(w, "failed: %v\n", f.Err)
	} else {
		fmt.Fprintf(w, "it did not fail\n")
	}
	fmt.Fprintf(w, "timeline:\n%s", f.Timeline)
	return draw(w, o, f.Trace, fmt.Sprintf("policy %s, quirks %s, the schedule of %s", p, o.quirks, o.replay))
}

// drawExplored draws, if asked, the first failing schedule of the first
// policy that had one, else the first schedule of the first policy.
func drawExplored(w io.Writer, o *options, answers []answer) error {
	if o.trace == "" && o.svg == "" {
		return nil
	}
	for _, a := range answers {
		if len(a.report.Failures) > 0 {
			f := a.report.Failures[0]
			return draw(w, o, f.Trace, fmt.Sprintf("policy %s, quirks %s, the first failing schedule (%s)", a.policy, a.quirks, f.Schedule))
		}
	}
	a := answers[0]
	r, err := explore.Run(explore.Options{Replay: a.report.First}, scenario(a.policy, a.quirks))
	if err != nil {
		return err
	}
	return draw(w, o, r.Replayed.Trace, fmt.Sprintf("policy %s, quirks %s, the first schedule (%s)", a.policy, a.quirks, a.report.First))
}

// draw writes rec as Chrome trace JSON and as SVG, where o asks for them.
func draw(w io.Writer, o *options, rec *trace.Recorder, what string) error {
	if o.trace != "" {
		if err := writeFile(o.trace, func(f io.Writer) error { return trace.WriteChromeJSON(f, rec) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s: %s, a microsecond per step; open https://ui.perfetto.dev and drag the file in\n", o.trace, what)
	}
	if o.svg != "" {
		opt := trace.SVGOptions{Title: "mapfixed-race: " + what}
		if err := writeFile(o.svg, func(f io.Writer) error { return trace.WriteSVG(f, rec, opt) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s: %s, a microsecond per step\n", o.svg, what)
	}
	return nil
}
