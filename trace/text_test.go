package trace

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// textLines splits WriteText output into header, rule and event lines.
func textLines(t *testing.T, out string) (header, rule string, events []string, footer []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("output has %d lines, want a header and a rule:\n%s", len(lines), out)
	}
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, "#") {
			footer = append(footer, l)
		} else {
			events = append(events, l)
		}
	}
	return lines[0], lines[1], events, footer
}

// runeIndex returns the rune offset of the byte offset i in s.
func runeIndex(s string, i int) int { return utf8.RuneCountInString(s[:i]) }

func TestTextColumnsLineUp(t *testing.T) {
	for _, width := range []int{0, 12, 40} {
		r := scenario()
		var buf bytes.Buffer
		if err := WriteText(&buf, r, TextOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		w := width
		if w == 0 {
			w = 28
		}
		header, rule, lines, _ := textLines(t, buf.String())
		evs := r.Events()
		if len(lines) != len(evs) {
			t.Fatalf("width %d: %d event lines for %d events:\n%s", width, len(lines), len(evs), buf.String())
		}
		// The rule marks where each column starts; column 0 starts where
		// the time column ends.
		col0 := runeIndex(rule, strings.Index(rule, "-"))
		names := r.Tracks()
		for i, name := range names {
			start := col0 + i*w
			hr := []rune(header)
			if start >= len(hr) {
				t.Fatalf("width %d: header %q has no column %d", width, header, i)
			}
			got := strings.TrimRight(string(hr[start:min(start+w, len(hr))]), " ")
			if !strings.HasPrefix(name, got) || got == "" {
				t.Errorf("width %d: header column %d = %q, want (a prefix of) %q", width, i, got, name)
			}
		}
		for i, line := range lines {
			e := evs[i]
			text := e.String()
			at := strings.Index(line, text)
			if at < 0 {
				t.Fatalf("width %d: line %q lacks %q", width, line, text)
			}
			if got, want := runeIndex(line, at), col0+e.Track*w; got != want {
				t.Errorf("width %d: %q starts at column %d, want %d (track %d)", width, text, got, want, e.Track)
			}
			if strings.TrimSpace(line[:at]) != formatMicros(e.Time-evs[0].Time) {
				t.Errorf("width %d: time column %q, want %s", width, line[:at], formatMicros(e.Time-evs[0].Time))
			}
			if strings.HasSuffix(line, " ") {
				t.Errorf("width %d: trailing space in %q", width, line)
			}
		}
	}
}

func TestTextFilterAndDropped(t *testing.T) {
	r := NewRecorderLimit(3)
	b := r.Track("t")
	for i := range 5 {
		b.Emit(Event{Kind: Load, Value: uint64(i)})
	}
	r.Track("other").Emit(Event{Kind: Note, Arg: "keep me out"})
	var buf bytes.Buffer
	err := WriteText(&buf, r, TextOptions{Filter: func(e Event) bool { return e.Kind == Load && e.Value != 1 }})
	if err != nil {
		t.Fatal(err)
	}
	_, _, lines, footer := textLines(t, buf.String())
	if len(lines) != 2 || !strings.Contains(lines[0], "-> 0x0") || !strings.Contains(lines[1], "-> 0x2") {
		t.Errorf("filtered lines = %q, want loads of 0x0 and 0x2", lines)
	}
	if len(footer) != 1 || !strings.Contains(footer[0], "2 events dropped") {
		t.Errorf("footer = %q, want the 2 dropped events reported", footer)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

var errWrite = &writeError{}

type writeError struct{}

func (*writeError) Error() string { return "write failed" }

func TestWritersReportWriteErrors(t *testing.T) {
	r := scenario()
	if err := WriteText(failingWriter{}, r, TextOptions{}); err != errWrite {
		t.Errorf("WriteText error = %v, want the writer's error", err)
	}
	if err := WriteChromeJSON(failingWriter{}, r); err != errWrite {
		t.Errorf("WriteChromeJSON error = %v, want the writer's error", err)
	}
	if err := WriteSVG(failingWriter{}, r, SVGOptions{}); err != errWrite {
		t.Errorf("WriteSVG error = %v, want the writer's error", err)
	}
}

func TestFormatMicros(t *testing.T) {
	for ns, want := range map[int64]string{0: "0.000", 1: "0.001", 1500: "1.500", 1234567: "1234.567", -2500: "-2.500"} {
		if got := formatMicros(ns); got != want {
			t.Errorf("formatMicros(%d) = %q, want %q", ns, got, want)
		}
	}
}
