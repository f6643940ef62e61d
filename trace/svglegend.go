package trace

import "strconv"

// legendItem is one entry of the SVG legend: a swatch and its label.
type legendItem struct {
	label  string
	fill   string
	stroke string // "" for none
	shape  byte   // 'r' rect (slice), 'c' circle (instant), 't' text only
	x      float64
	row    int
}

// svgLegend is the laid-out legend below the lanes.
type svgLegend struct {
	items []legendItem
	rows  int
}

// maxLegendValues bounds how many load/store values the legend spells out.
var maxLegendValues = len(valuePalette)

// buildLegend lists, in a fixed order, the slice kinds and instant kinds
// that occur in evs, the first few load/store values with their colours,
// errors, and the dropped count; then flows the items into rows of the
// given width.
func buildLegend(evs []Event, values map[uint64]string, dropped, width int) svgLegend {
	present := map[Kind]bool{}
	errs := false
	for _, e := range evs {
		present[e.Kind] = true
		if e.Kind == Signal || ((e.Kind == Load || e.Kind == Store) && e.Err != "") {
			errs = true
		}
	}
	var items []legendItem
	for k := SyscallBegin; k < numKinds; k++ {
		if !present[k] {
			continue
		}
		switch {
		case k.isBegin():
			items = append(items, legendItem{label: sliceLabel(Event{Kind: k}), fill: sliceColors[k], shape: 'r'})
		case instantColors[k] != "" && (!isEnd(k) || !present[mustBegin(k)]):
			// An End kind gets a dot only if it appears alone (unmatched).
			items = append(items, legendItem{label: k.String(), fill: instantColors[k], shape: 'c'})
		}
	}
	// Values in order of first appearance (the order their colours were given in).
	if len(values) > 0 {
		items = append(items, legendItem{label: "load/store value (ring = store):", shape: 't'})
		seen := map[uint64]bool{}
		for _, e := range evs {
			if (e.Kind == Load || e.Kind == Store) && e.Err == "" && !seen[e.Value] {
				seen[e.Value] = true
				if len(seen) > maxLegendValues {
					items = append(items, legendItem{label: "(colours repeat)", shape: 't'})
					break
				}
				items = append(items, legendItem{label: hex(e.Value), fill: values[e.Value], shape: 'c'})
			}
		}
	}
	if errs {
		items = append(items, legendItem{label: "fault / signal", fill: errorColor, stroke: "#000", shape: 'c'})
	}
	if dropped > 0 {
		items = append(items, legendItem{label: strconv.Itoa(dropped) + " events dropped (recorder limit)", shape: 't'})
	}

	// Flow into rows.
	l := svgLegend{rows: 0}
	if len(items) > 0 {
		l.rows = 1
	}
	xPos := 8.0
	for i := range items {
		w := textWidth(items[i].label) + 14
		if items[i].shape != 't' {
			w += 16
		}
		if xPos+w > float64(width-8) && xPos > 8 {
			l.rows++
			xPos = 8
		}
		items[i].x, items[i].row = xPos, l.rows-1
		xPos += w
	}
	l.items = items
	return l
}

// mustBegin returns the Begin kind of an End kind (0 otherwise).
func mustBegin(k Kind) Kind {
	b, _ := k.beginOf()
	return b
}

// write draws the legend with its first row at y = top.
func (l svgLegend) write(sw *svgWriter, top int) {
	sw.printf(`<g class="legend">` + "\n")
	for _, it := range l.items {
		y := top + it.row*svgLegendH
		tx := it.x
		switch it.shape {
		case 'r':
			sw.printf(`<rect x="%.1f" y="%d" width="12" height="10" fill="%s" fill-opacity="0.8" stroke="#333" stroke-width="0.5"/>`+"\n", it.x, y, it.fill)
			tx += 16
		case 'c':
			stroke := it.stroke
			if stroke == "" {
				stroke = "none"
			}
			sw.printf(`<circle cx="%.1f" cy="%d" r="4" fill="%s" stroke="%s"/>`+"\n", it.x+6, y+5, it.fill, stroke)
			tx += 16
		}
		sw.printf(`<text x="%.1f" y="%d">%s</text>`+"\n", tx, y+9, esc(it.label))
	}
	sw.printf("</g>\n")
}
