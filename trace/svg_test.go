package trace

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// svgElem is a start element of the written SVG with its attributes and the
// text of its <title> child, if any.
type svgElem struct {
	name  string
	attrs map[string]string
	lane  string // data-track of the enclosing lane, "" outside lanes
	title string
}

// parseSVG decodes every token of out (failing on any XML error) and returns
// the start elements in document order.
func parseSVG(t *testing.T, out []byte) []*svgElem {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(out))
	var elems []*svgElem
	var stack []*svgElem
	lane := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not valid XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &svgElem{name: tok.Name.Local, attrs: map[string]string{}, lane: lane}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if e.name == "g" && e.attrs["class"] == "lane" {
				lane = e.attrs["data-track"]
				e.lane = lane
			}
			elems = append(elems, e)
			stack = append(stack, e)
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.name == "g" && top.attrs["class"] == "lane" {
				lane = ""
			}
		case xml.CharData:
			if len(stack) >= 2 && stack[len(stack)-1].name == "title" {
				stack[len(stack)-2].title += string(tok)
			}
		}
	}
	if len(elems) == 0 || elems[0].name != "svg" {
		t.Fatalf("root element is not <svg>")
	}
	return elems
}

func writeSVG(t *testing.T, r *Recorder, opt SVGOptions) []*svgElem {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSVG(&buf, r, opt); err != nil {
		t.Fatal(err)
	}
	return parseSVG(t, buf.Bytes())
}

func TestSVGLanesAndEscaping(t *testing.T) {
	r := scenario()
	elems := writeSVG(t, r, SVGOptions{Title: `trace <of> "munmap" & friends`})
	var lanes []string
	title := ""
	for _, e := range elems {
		if e.name == "g" && e.attrs["class"] == "lane" {
			lanes = append(lanes, e.attrs["data-track"])
		}
		if e.attrs["class"] == "title" {
			title = "found"
		}
	}
	names := r.Tracks()
	if len(lanes) != len(names) {
		t.Fatalf("%d lanes for %d tracks", len(lanes), len(names))
	}
	for i := range names {
		if lanes[i] != names[i] { // survives escaping: quotes, <, &
			t.Errorf("lane %d is %q, want %q", i, lanes[i], names[i])
		}
	}
	if title == "" {
		t.Error("no title element")
	}
}

func TestSVGSlicesAndInstantsInTheirLanes(t *testing.T) {
	r := scenario()
	elems := writeSVG(t, r, SVGOptions{Width: 800})
	names := r.Tracks()
	slices, instants := map[string]int{}, map[string]int{}
	for _, e := range elems {
		switch e.attrs["class"] {
		case "slice":
			slices[e.lane]++
			if e.title == "" {
				t.Errorf("slice %v has no title", e.attrs)
			}
		case "instant":
			instants[e.lane]++
			if !strings.Contains(e.title, "µs") {
				t.Errorf("instant title %q lacks its time", e.title)
			}
		}
	}
	// Same repairs as Chrome: syscalls track has mmap, munmap split in two,
	// shootdown, grace period; thread 1 has its unfinished fault.
	marks := buildMarks(r.Events())
	wantSlices, wantInstants := map[string]int{}, map[string]int{}
	for _, m := range marks {
		switch m.phase {
		case markEnd:
			wantSlices[names[m.track]]++
		case markInstant:
			wantInstants[names[m.track]]++
		}
	}
	for _, n := range names {
		if slices[n] != wantSlices[n] || instants[n] != wantInstants[n] {
			t.Errorf("lane %q: %d slices, %d instants; want %d, %d", n, slices[n], instants[n], wantSlices[n], wantInstants[n])
		}
	}
}

// Loads that saw different values must look different; the same value must
// look the same (and match the store that wrote it); failures are red.
func TestSVGColoursLoadsByValue(t *testing.T) {
	elems := writeSVG(t, scenario(), SVGOptions{})
	fillOf := map[string]map[string]bool{} // description -> fills
	for _, e := range elems {
		if e.attrs["class"] != "instant" {
			continue
		}
		if k := e.attrs["data-kind"]; k != "Load" && k != "Store" && k != "Signal" {
			continue
		}
		desc := e.title[strings.Index(e.title, "µs")+len("µs  "):]
		if fillOf[desc] == nil {
			fillOf[desc] = map[string]bool{}
		}
		fillOf[desc][e.attrs["fill"]] = true
	}
	one := fillOf["load 0x1000 -> 0x1"]
	two := fillOf["load 0x1000 -> 0x2"]
	store := fillOf["store 0x1000 <- 0x2"]
	fail := fillOf["load 0x1000: SIGSEGV SEGV_MAPERR"]
	if len(one) != 1 || len(two) != 1 || len(store) != 1 || len(fail) != 1 {
		t.Fatalf("fills per event = %v", fillOf)
	}
	for f := range one {
		if two[f] {
			t.Errorf("loads of 0x1 and 0x2 share colour %s", f)
		}
		if fail[f] {
			t.Errorf("a failed load looks like a load of 0x1 (%s)", f)
		}
	}
	for f := range two {
		if !store[f] {
			t.Errorf("load of 0x2 (%s) and store of 0x2 (%v) differ", f, store)
		}
	}
	if !fail[errorColor] {
		t.Errorf("failed load fill %v, want %s", fail, errorColor)
	}
}

func TestSVGFilterAndEmpty(t *testing.T) {
	r := scenario()
	elems := writeSVG(t, r, SVGOptions{Filter: func(e Event) bool { return e.Kind == Load }})
	for _, e := range elems {
		if e.attrs["class"] == "slice" || (e.attrs["class"] == "instant" && e.attrs["data-kind"] != "Load") {
			t.Errorf("filtered SVG draws %v", e.attrs)
		}
	}
	empty := NewRecorder()
	empty.Track("idle")
	elems = writeSVG(t, empty, SVGOptions{Width: 10})
	if w := elems[0].attrs["width"]; w != "400" {
		t.Errorf("width 10 gave width %s, want the 400 minimum", w)
	}
}

func TestNiceStep(t *testing.T) {
	for x, want := range map[float64]float64{0.3: 0.5, 1: 1, 1.1: 2, 2.5: 5, 7: 10, 120: 200, 0: 1} {
		if got := niceStep(x); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", x, got, want)
		}
	}
}
