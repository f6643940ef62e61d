package trace

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
)

// chromePid is the process id every track is shown under.
const chromePid = 1

// chromeEvent is one entry of the Trace Event Format's traceEvents array.
// See "Trace Event Format" (Google, the document chrome://tracing and
// Perfetto implement).
type chromeEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   json.Number    `json:"ts"` // microseconds
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	S    string         `json:"s,omitempty"` // instant scope: "t" = thread
	Args map[string]any `json:"args,omitempty"`
}

// WriteChromeJSON writes r's events in the Trace Event Format, JSON object
// form: {"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}.
// Drag the file into https://ui.perfetto.dev (or load it in
// chrome://tracing) to browse it.
//
// Layout: one process (pid 1, "vmsim"), one thread per track (tid = track
// index + 1) named by "thread_name" metadata ("ph":"M") and kept in creation
// order by "thread_sort_index". Syscalls, faults, TLB shootdowns and grace
// periods are "B"/"E" slices, always properly nested per tid (crossing or
// missing Begin/End pairs are repaired; the repair is noted in args.note).
// Every other event is a thread-scoped instant ("ph":"i","s":"t"). Args
// carry addr as a hex string, value as a JSON number (exact, though
// JavaScript shows values above 2^53 rounded; loads and stores also carry
// value_hex), and len, target, arg and err where the kind uses them. ts is in
// microseconds with nanosecond precision.
//
// Safe to call concurrently with recording (see Recorder.Events).
func WriteChromeJSON(w io.Writer, r *Recorder) error {
	names := r.Tracks()
	evs := r.Events()
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"displayTimeUnit":"ns","otherData":{"generator":"vmsim trace","dropped_events":`)
	bw.WriteString(strconv.Itoa(r.Dropped()))
	bw.WriteString("},\n\"traceEvents\":[\n")

	first := true
	put := func(ce chromeEvent) error {
		b, err := json.Marshal(ce)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		_, err = bw.Write(b)
		return err
	}

	meta := []chromeEvent{{Name: "process_name", Ph: "M", Ts: "0", Pid: chromePid,
		Args: map[string]any{"name": "vmsim"}}}
	for i, name := range names {
		meta = append(meta,
			chromeEvent{Name: "thread_name", Ph: "M", Ts: "0", Pid: chromePid, Tid: i + 1,
				Args: map[string]any{"name": name}},
			chromeEvent{Name: "thread_sort_index", Ph: "M", Ts: "0", Pid: chromePid, Tid: i + 1,
				Args: map[string]any{"sort_index": i}})
	}
	for _, ce := range meta {
		if err := put(ce); err != nil {
			return err
		}
	}

	for _, m := range buildMarks(evs) {
		ce := chromeEvent{Ph: string(m.phase), Ts: json.Number(formatMicros(m.time)), Pid: chromePid, Tid: m.track + 1}
		switch m.phase {
		case markBegin:
			ce.Name, ce.Cat = sliceLabel(m.begin), m.begin.Kind.category()
			ce.Args = chromeArgs(m.begin)
		case markEnd:
			ce.Name, ce.Cat = sliceLabel(m.begin), m.begin.Kind.category()
			if m.note == "" {
				ce.Args = chromeArgs(m.ev)
			}
		case markInstant:
			ce.Name, ce.Cat, ce.S = instantName(m.ev), m.ev.Kind.category(), "t"
			ce.Args = chromeArgs(m.ev)
		}
		if m.note != "" {
			if ce.Args == nil {
				ce.Args = map[string]any{}
			}
			ce.Args["note"] = m.note
		}
		if err := put(ce); err != nil {
			return err
		}
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// instantName is the label an instant gets on the timeline: short, so that
// Perfetto can group equal names, except for free text that is the point.
func instantName(e Event) string {
	switch e.Kind {
	case Note:
		return oneLine(e.Arg)
	case Signal:
		if e.Arg != "" {
			return oneLine(e.Arg)
		}
	case SyscallEnd:
		return oneLine(e.Name) + " end"
	}
	return e.Kind.String()
}

// chromeArgs returns the args object for e: the fields its kind uses, plus
// the description Event.String gives.
func chromeArgs(e Event) map[string]any {
	a := map[string]any{"desc": e.String()}
	switch e.Kind {
	case FaultBegin, FaultEnd, Lookup, FastPath, SlowPath, Retry, Fallback,
		Install, Zap, ShootdownBegin, Load, Store, Signal:
		a["addr"] = hex(e.Addr)
	}
	switch e.Kind {
	case Load, Store:
		if e.Err == "" { // a failed access saw or wrote nothing
			a["value"], a["value_hex"] = e.Value, hex(e.Value)
		}
	case SyscallEnd, Lookup, Install, FreeFrame, Publish:
		a["value"] = e.Value
	}
	switch e.Kind {
	case SyscallEnd:
		a["result"] = hex(e.Value)
	case Zap, ShootdownBegin:
		a["len"] = e.Len
	}
	if e.Kind == ShootdownBegin {
		a["target"] = e.Target
	}
	if e.Arg != "" {
		a["arg"] = e.Arg
	}
	if e.Err != "" {
		a["err"] = e.Err
	}
	return a
}
