package trace

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

type chromeFile struct {
	TraceEvents     []map[string]any `json:"traceEvents"`
	DisplayTimeUnit string           `json:"displayTimeUnit"`
	OtherData       map[string]any   `json:"otherData"`
}

func writeChrome(t *testing.T, r *Recorder) chromeFile {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteChromeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var f chromeFile
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, buf.String())
	}
	return f
}

func TestChromeJSONStructure(t *testing.T) {
	r := scenario()
	f := writeChrome(t, r)
	if f.DisplayTimeUnit != "ns" {
		t.Errorf("displayTimeUnit = %q", f.DisplayTimeUnit)
	}
	names := r.Tracks()
	threadNames := map[float64]string{}
	stacks := map[float64][]string{} // tid -> open B names
	lastTs := map[float64]float64{}
	instants := 0
	for i, ev := range f.TraceEvents {
		for _, field := range []string{"name", "ph", "ts", "pid", "tid"} {
			if _, ok := ev[field]; !ok {
				t.Fatalf("event %d lacks %q: %v", i, field, ev)
			}
		}
		name, _ := ev["name"].(string)
		ph, _ := ev["ph"].(string)
		ts := num(t, ev["ts"])
		tid := num(t, ev["tid"])
		switch ph {
		case "M":
			if name == "thread_name" {
				threadNames[tid] = ev["args"].(map[string]any)["name"].(string)
			}
			continue
		case "B":
			stacks[tid] = append(stacks[tid], name)
		case "E":
			st := stacks[tid]
			if len(st) == 0 {
				t.Fatalf("event %d: E %q on tid %v with no open B", i, name, tid)
			}
			if top := st[len(st)-1]; top != name {
				t.Fatalf("event %d: E %q on tid %v closes B %q: not nested", i, name, tid, top)
			}
			stacks[tid] = st[:len(st)-1]
		case "i":
			instants++
			if ev["s"] != "t" {
				t.Errorf("instant %v has scope %v, want t", name, ev["s"])
			}
		default:
			t.Errorf("event %d has unexpected ph %q", i, ph)
		}
		if ts < lastTs[tid] {
			t.Errorf("event %d: ts %v before previous %v on tid %v", i, ts, lastTs[tid], tid)
		}
		lastTs[tid] = ts
		if tid < 1 || int(tid) > len(names) {
			t.Errorf("event %d on tid %v, want 1..%d", i, tid, len(names))
		}
	}
	for tid, st := range stacks {
		if len(st) != 0 {
			t.Errorf("tid %v ends with open slices %q", tid, st)
		}
	}
	for i, name := range names {
		if threadNames[float64(i+1)] != name {
			t.Errorf("tid %d named %q, want %q", i+1, threadNames[float64(i+1)], name)
		}
	}
	if instants == 0 {
		t.Error("no instants written")
	}
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestChromeJSONArgsAndTimes(t *testing.T) {
	r := NewRecorderWithClock(stepClock(1500))
	th := r.Track("t")
	th.Emit(Event{Kind: Note, Arg: "start"})
	th.Emit(Event{Kind: Load, Addr: 0x7fff0000, Value: 0xdeadbeefcafef00d})
	th.Emit(Event{Kind: Install, Addr: 0x7fff0000, Value: 12})
	f := writeChrome(t, r)
	var load, install map[string]any
	for _, ev := range f.TraceEvents {
		switch ev["name"] {
		case "Load":
			load = ev
		case "Install":
			install = ev
		}
	}
	if load == nil || install == nil {
		t.Fatalf("Load or Install missing from %v", f.TraceEvents)
	}
	if got := string(load["ts"].(json.Number)); got != "1.500" {
		t.Errorf("load ts = %s µs, want 1.500 (1500 ns)", got)
	}
	args := load["args"].(map[string]any)
	if args["addr"] != "0x7fff0000" || args["value_hex"] != "0xdeadbeefcafef00d" {
		t.Errorf("load args = %v", args)
	}
	if v := string(args["value"].(json.Number)); v != strconv.FormatUint(0xdeadbeefcafef00d, 10) {
		t.Errorf("load value = %s, want exact 0xdeadbeefcafef00d", v)
	}
	if v := string(install["args"].(map[string]any)["value"].(json.Number)); v != "12" {
		t.Errorf("install value (frame) = %s, want 12", v)
	}
}

func TestChromeJSONRepairsAreNoted(t *testing.T) {
	f := writeChrome(t, scenario())
	notes := map[string]int{}
	for _, ev := range f.TraceEvents {
		if args, ok := ev["args"].(map[string]any); ok {
			if n, ok := args["note"].(string); ok {
				notes[n]++
			}
		}
	}
	// scenario: munmap is split by mmap's end, the fault never ends, a
	// GraceEnd has no GraceBegin.
	for _, n := range []string{noteSplit, noteContinued, noteUnfinished, noteUnmatched} {
		if notes[n] == 0 {
			t.Errorf("no event noted %q; notes = %v", n, notes)
		}
	}
}

func TestChromeJSONEmptyRecorder(t *testing.T) {
	f := writeChrome(t, NewRecorder())
	if len(f.TraceEvents) != 1 || !strings.Contains(f.TraceEvents[0]["name"].(string), "process_name") {
		t.Errorf("empty recorder wrote %v, want only the process name", f.TraceEvents)
	}
}
