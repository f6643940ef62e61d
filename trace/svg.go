package trace

import (
	"bufio"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SVGOptions configures WriteSVG. The zero value is ready to use. It is only
// read; Filter is called on the goroutine running WriteSVG.
type SVGOptions struct {
	// Width of the image in pixels; 0 means 1200. Widths below 400 are
	// raised to 400.
	Width int
	// Title, if not empty, is drawn above the timeline.
	Title string
	// Filter, if not nil, keeps only the events for which it returns true.
	Filter func(Event) bool
}

// Geometry of the SVG, in pixels.
const (
	svgLabelW  = 160 // left column holding the track names
	svgRightM  = 20  // right margin
	svgLaneH   = 46  // height of one track's lane
	svgCharW   = 6.7 // approximate advance of an 11px monospace character
	svgLegendH = 18  // height of one legend row

	svgLabelChars = 22 // track-name characters that fit in svgLabelW
)

// Colours. Red is kept for errors and signals so that they stand out; the
// value palette never uses it.
var (
	sliceColors = map[Kind]string{
		SyscallBegin: "#4e79a7", FaultBegin: "#f28e2b", ShootdownBegin: "#e15759", GraceBegin: "#76b7b2",
	}
	instantColors = map[Kind]string{
		SyscallEnd: "#4e79a7", FaultEnd: "#f28e2b", ShootdownEnd: "#e15759", GraceEnd: "#76b7b2",
		Lookup: "#9c755f", FastPath: "#59a14f", SlowPath: "#edc948", Retry: "#ff9da7",
		Fallback: "#b07aa1", Install: "#2ca02c", Zap: "#8c564b", FreeVMA: "#7f7f7f",
		FreeFrame: "#bcbd22", Publish: "#17becf", Note: "#333333",
	}
	valuePalette = []string{
		"#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#e377c2",
		"#bcbd22", "#8c564b", "#2ca02c", "#7f7f7f", "#aec7e8",
	}
)

const errorColor = "#d62728"

// svgSpan is a slice ready to draw: a B mark and the E mark that closed it.
type svgSpan struct {
	from, to   int64 // times of the B and E marks
	depth      int
	begin, end Event
	note       string
}

// WriteSVG writes r's events as a self-contained SVG timeline: a lane per
// track (a <g class="lane"> whose data-track attribute is the track name),
// time on the x axis with labels in µs, syscalls, faults, shootdowns and
// grace periods as rects stacked by nesting depth, and every other event as
// a dot coloured by kind. Loads and stores are coloured by the value they
// saw or wrote — each distinct value gets the next colour of a palette in
// order of first appearance — so a load that returns old contents next to
// one that returns new contents is visible at a glance; failed accesses and
// signals are red. A legend lists what the colours mean. Hovering over a
// mark shows its time and description (an SVG <title>). All text is
// escaped, so any track name or argument gives valid XML.
//
// Safe to call concurrently with recording (see Recorder.Events).
func WriteSVG(w io.Writer, r *Recorder, opt SVGOptions) error {
	width := opt.Width
	if width == 0 {
		width = 1200
	}
	width = max(width, 400)
	names := r.Tracks()
	evs := filterEvents(r.Events(), opt.Filter)

	// Time scale.
	var t0, t1 int64
	if len(evs) > 0 {
		t0, t1 = evs[0].Time, evs[len(evs)-1].Time
	}
	span := t1 - t0
	if span <= 0 {
		span = 1000 // a single instant still gets a 1 µs axis
	}
	plotL, plotR := float64(svgLabelW), float64(width-svgRightM)
	x := func(t int64) float64 { return plotL + float64(t-t0)/float64(span)*(plotR-plotL) }

	// Slices and instants per track, and colours per value.
	spans := make([][]svgSpan, len(names))
	instants := make([][]mark, len(names))
	stacks := map[int][]mark{}
	for _, m := range buildMarks(evs) {
		if m.track < 0 || m.track >= len(names) {
			continue // an event from a track this recorder does not have
		}
		switch m.phase {
		case markBegin:
			stacks[m.track] = append(stacks[m.track], m)
		case markEnd:
			st := stacks[m.track]
			b := st[len(st)-1] // buildMarks guarantees nesting
			stacks[m.track] = st[:len(st)-1]
			note := m.note
			if note == "" {
				note = b.note
			}
			spans[m.track] = append(spans[m.track], svgSpan{from: b.time, to: m.time, depth: m.depth,
				begin: b.begin, end: m.ev, note: note})
		case markInstant:
			instants[m.track] = append(instants[m.track], m)
		}
	}
	for _, ss := range spans {
		// Outer slices first, so inner ones are drawn on top of them.
		slices.SortStableFunc(ss, func(a, b svgSpan) int { return cmp.Compare(a.depth, b.depth) })
	}
	values := valueColors(evs)

	// Vertical layout.
	top := 8
	if opt.Title != "" {
		top = 34
	}
	axisY := top + 16
	laneTop := axisY + 6
	lanesBottom := laneTop + len(names)*svgLaneH
	legend := buildLegend(evs, values, r.Dropped(), width)
	legendTop := lanesBottom + 14
	height := legendTop + legend.rows*svgLegendH + 10

	sw := &svgWriter{w: bufio.NewWriter(w)}
	sw.printf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="monospace" font-size="11">`+"\n",
		width, height, width, height)
	sw.printf(`<desc>vmsim trace: %d events on %d tracks</desc>`+"\n", len(evs), len(names))
	sw.printf(`<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	if opt.Title != "" {
		sw.printf(`<text class="title" x="8" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", esc(opt.Title))
	}

	// Axis: nicely rounded ticks, labelled in µs, with grid lines.
	sw.printf(`<g class="axis">` + "\n")
	sw.printf(`<text x="8" y="%d">time (µs)</text>`+"\n", axisY-4)
	sw.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>`+"\n", plotL, axisY, plotR, axisY)
	spanUs := float64(span) / 1000
	step := niceStep(spanUs / 8)
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	for i := 0; float64(i)*step <= spanUs*(1+1e-9); i++ {
		v := float64(i) * step
		tx := plotL + v/spanUs*(plotR-plotL)
		sw.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", tx, axisY, tx, lanesBottom)
		sw.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", tx, axisY-4, strconv.FormatFloat(v, 'f', decimals, 64))
	}
	sw.printf("</g>\n")

	for i, name := range names {
		y := laneTop + i*svgLaneH
		bg := "#ffffff"
		if i%2 == 1 {
			bg = "#f4f4f4"
		}
		sw.printf(`<g class="lane" data-track="%s">`+"\n", esc(name))
		sw.printf(`<rect x="0" y="%d" width="%d" height="%d" fill="%s" fill-opacity="0.6"/>`+"\n", y, width, svgLaneH, bg)
		label := truncateRunes(oneLine(name), svgLabelChars)
		sw.printf(`<text x="8" y="%d">%s</text>`+"\n", y+svgLaneH/2+4, esc(label))
		for _, s := range spans[i] {
			sw.slice(s, x, y, t0)
		}
		for _, m := range instants[i] {
			sw.instant(m, x(m.time), y, t0, values)
		}
		sw.printf("</g>\n")
	}
	if len(evs) == 0 {
		sw.printf(`<text x="%d" y="%d">no events</text>`+"\n", svgLabelW, lanesBottom+12)
	}
	legend.write(sw, legendTop)
	sw.printf("</svg>\n")
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

// svgWriter writes formatted SVG and remembers the first error, so drawing
// code need not check every call.
type svgWriter struct {
	w   *bufio.Writer
	err error // first write error
}

func (sw *svgWriter) printf(format string, args ...any) {
	if sw.err == nil {
		_, sw.err = fmt.Fprintf(sw.w, format, args...)
	}
}

// slice draws one span as a rect in the lane starting at laneY, inset by
// nesting depth so that inner slices sit visibly inside outer ones.
func (sw *svgWriter) slice(s svgSpan, x func(int64) float64, laneY int, t0 int64) {
	d := min(s.depth, 3)
	ry, rh := laneY+3+d*4, 22-d*4
	rx, rw := x(s.from), max(x(s.to)-x(s.from), 1)
	dash := ""
	if s.note == noteUnfinished {
		dash = ` stroke-dasharray="3,2"`
	}
	label := sliceLabel(s.begin)
	sw.printf(`<rect class="slice" data-kind="%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.8" stroke="#333" stroke-width="0.5"%s>`,
		s.begin.Kind, rx, ry, rw, rh, sliceColors[s.begin.Kind], dash)
	desc := s.begin.String()
	if s.end.Kind != s.begin.Kind {
		desc += " … " + s.end.String()
	}
	if s.note != "" {
		desc += " [" + s.note + "]"
	}
	when := formatMicros(s.from-t0) + "-" + formatMicros(s.to-t0) + " µs  "
	sw.printf(`<title>%s</title></rect>`+"\n", esc(when+desc))
	if fit := int((rw - 4) / svgCharW); fit >= 3 {
		sw.printf(`<text x="%.1f" y="%d" font-size="10" pointer-events="none">%s</text>`+"\n",
			rx+2, ry+rh/2+4, esc(truncateRunes(label, fit)))
	}
}

// instant draws one instant as a dot: accesses and signals on the upper row
// (bigger, coloured by value), bookkeeping events on the lower row.
func (sw *svgWriter) instant(m mark, cx float64, laneY int, t0 int64, values map[uint64]string) {
	e := m.ev
	fill, stroke, radius, cy := instantColors[e.Kind], "none", 2.5, laneY+40
	switch {
	case e.Kind == Signal || ((e.Kind == Load || e.Kind == Store) && e.Err != ""):
		fill, stroke, radius, cy = errorColor, "#000", 5, laneY+31
	case e.Kind == Load || e.Kind == Store:
		fill, radius, cy = values[e.Value], 4, laneY+31
		if e.Kind == Store {
			stroke = "#000" // a ring tells writes from reads of the same value
		}
	}
	if fill == "" {
		fill = "#333333"
	}
	text := formatMicros(m.time-t0) + " µs  " + e.String()
	if m.note != "" {
		text += " [" + m.note + "]"
	}
	sw.printf(`<circle class="instant" data-kind="%s" cx="%.1f" cy="%d" r="%g" fill="%s" stroke="%s"><title>%s</title></circle>`+"\n",
		e.Kind, cx, cy, radius, fill, stroke, esc(text))
}

// valueColors assigns palette colours to the values of successful loads and
// stores in order of first appearance, so that two different values among
// the first len(valuePalette) never share a colour.
func valueColors(evs []Event) map[uint64]string {
	colors := map[uint64]string{}
	for _, e := range evs {
		if (e.Kind == Load || e.Kind == Store) && e.Err == "" {
			if _, ok := colors[e.Value]; !ok {
				colors[e.Value] = valuePalette[len(colors)%len(valuePalette)]
			}
		}
	}
	return colors
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceStep(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

// esc escapes s for use as XML text or attribute value; characters XML
// cannot hold become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder cannot fail
	return b.String()
}

// textWidth estimates the rendered width of s in pixels.
func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * svgCharW }
