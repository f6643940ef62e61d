package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// The columns of the outcome table: an Observe key each, in order.
var columns = []struct{ key, label string }{
	{"read", "T's read"},
	{"flag", "flag"},
	{"next", "T's next read"},
	{"fault", "how T's fault went"},
}

// faultSteps name what a fault did, from the counters it moved, in the
// order they happen; the table joins them with "+".
var faultSteps = []struct {
	name, meaning string
	count         func(d mmap.Stats) int64
}{
	{"abort", "the VMA's read lock was refused (vma_lock_abort: no VMA, or a writer marked it)", func(d mmap.Stats) int64 { return d.VMALockAbort }},
	{"io", "it dropped its lock for the disk read and asked to be retried (maybe_unlock_mmap_for_io)", func(d mmap.Stats) int64 { return d.ReleasedForIO }},
	{"refused", "its PTE install was refused: the VMA had been detached", func(d mmap.Stats) int64 { return d.InstallRaced }},
	{"retry", "it looked the VMA up again under RCU", func(d mmap.Stats) int64 { return d.Retries }},
	{"fallback", "it fell back to the mmap lock", func(d mmap.Stats) int64 { return d.Fallbacks }},
}

// faultPath names what T's fault did between two Stats.
func faultPath(before, after mmap.Stats) string {
	var d mmap.Stats
	d.VMALockAbort = after.VMALockAbort - before.VMALockAbort
	d.ReleasedForIO = after.ReleasedForIO - before.ReleasedForIO
	d.InstallRaced = after.InstallRaced - before.InstallRaced
	d.Retries = after.Retries - before.Retries
	d.Fallbacks = after.Fallbacks - before.Fallbacks
	var steps []string
	for _, s := range faultSteps {
		switch n := s.count(d); {
		case n == 1:
			steps = append(steps, s.name)
		case n > 1:
			steps = append(steps, fmt.Sprintf("%s×%d", s.name, n))
		}
	}
	if len(steps) == 0 {
		return "direct"
	}
	return strings.Join(steps, "+")
}

// word names what a read of the page returned: "page" for its contents,
// the signal a failed read raised, or else what it got.
func word(v uint64, err error) string {
	if err == nil && v == fileMagic+readPage {
		return "page"
	}
	var se *mmap.SignalError
	if errors.As(err, &se) {
		return se.Signo.String()
	}
	return fmt.Sprintf("%#x (%v)", v, err)
}

// scenario: T reads page readPage of a file mapping whose page-cache miss
// takes latency (in virtual time: a sleep ends when no other thread can
// run), then reads the flag word U sets after munmap returns, then reads
// the page again. U unmaps the whole mapping, then sets the flag. Once T
// has seen the flag, its read must fault: no PTE may outlive the munmap,
// which Check also verifies after every schedule.
func scenario(p mmap.Policy, q mmap.Quirks, latency time.Duration) func(*explore.Env) {
	return func(e *explore.Env) {
		as := e.New(mmap.Config{Policy: p, Quirks: q})
		data := make([]byte, filePages*mmap.PageSize)
		for n := range filePages {
			binary.LittleEndian.PutUint64(data[n*mmap.PageSize:], fileMagic+uint64(n))
		}
		file := mmap.NewFile("slow.dat", data, mmap.FileOptions{MissLatency: latency})
		setup := as.NewThreadNamed("setup")
		addr, err := setup.Mmap(0, filePages*mmap.PageSize, mmap.ProtRead, mmap.MapShared, file, 0)
		if err != nil {
			panic(err)
		}
		flag, err := setup.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		if err := setup.WriteUint64(flag, 0); err != nil { // fault the flag page in
			panic(err)
		}
		setup.Close()
		page := addr + readPage*mmap.PageSize

		e.Go("T", as, func(t *mmap.Thread) {
			before := as.Stats()
			v, err := t.ReadUint64(page)
			path := faultPath(before, as.Stats())
			f, _ := t.ReadUint64(flag)
			v2, err2 := t.ReadUint64(page)
			e.Observe("read", word(v, err))
			e.Observe("flag", f)
			e.Observe("next", word(v2, err2))
			e.Observe("fault", path)
			if f == 1 && err2 == nil {
				e.Errorf("T read the page (%s) after munmap returned: a PTE outlived the munmap", word(v2, err2))
			}
		})
		e.Go("U", as, func(t *mmap.Thread) {
			if err := t.Munmap(addr, filePages*mmap.PageSize); err != nil {
				e.Errorf("munmap: %v", err)
			}
			if err := t.WriteUint64(flag, 1); err != nil {
				e.Errorf("U's store to the flag: %v", err)
			}
		})
	}
}

// runExplore prints, per policy, every outcome within the bound and a
// verdict, then the first failing schedule's timeline if any failed.
func runExplore(o *options, w io.Writer) error {
	fmt.Fprintf(w, "munmap-race: T reads page %d of a file mapping; the page is not in the page cache, and reading it\n", readPage)
	fmt.Fprintf(w, "from the disk takes %v (virtual time: the sleep ends when no other thread can run). U unmaps\n", o.latency)
	fmt.Fprintf(w, "the file, then sets a flag word; T reads the flag after its read, then the page again.\n")
	bound := fmt.Sprintf("%d preemptions", o.preemptions)
	if o.preemptions == 1 {
		bound = "1 preemption"
	}
	fmt.Fprintf(w, "Every schedule with at most %s, per policy (explore.Exhaustive(%d)); quirks: %s.\n",
		bound, o.preemptions, o.quirks)

	reports := make([]*explore.Report, len(o.policies))
	for i, p := range o.policies {
		r, err := explore.Run(explore.Options{Strategy: explore.Exhaustive(o.preemptions)}, scenario(p, o.quirks, o.latency))
		if err != nil {
			return fmt.Errorf("policy %s: %w", p, err)
		}
		reports[i] = r
	}

	// One row per outcome any policy reached, one column of schedule
	// counts per policy.
	var outcomes []string
	for _, r := range reports {
		for out := range r.Outcomes {
			if !slices.Contains(outcomes, out) {
				outcomes = append(outcomes, out)
			}
		}
	}
	rows := [][]string{nil}
	for _, c := range columns {
		rows[0] = append(rows[0], c.label)
	}
	for _, p := range o.policies {
		rows[0] = append(rows[0], p.String())
	}
	for _, out := range outcomes {
		kv := map[string]string{}
		for _, f := range strings.Fields(out) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		var row []string
		for _, c := range columns {
			row = append(row, kv[c.key])
		}
		for _, r := range reports {
			row = append(row, countOf(r.Outcomes[out]))
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows[1:], func(a, b []string) int { return slices.Compare(a[:len(columns)], b[:len(columns)]) })
	for _, line := range []struct {
		label string
		value func(*explore.Report) string
	}{
		{"schedules", func(r *explore.Report) string { return fmt.Sprint(r.Schedules) }},
		{"complete", func(r *explore.Report) string { return map[bool]string{true: "yes", false: "no"}[r.Complete] }},
		{"failed", func(r *explore.Report) string { return fmt.Sprint(r.Failed) }},
	} {
		row := make([]string, len(columns))
		row[0] = line.label
		for _, r := range reports {
			row = append(row, line.value(r))
		}
		rows = append(rows, row)
	}
	fmt.Fprintf(w, "\noutcomes, and how many schedules ended in each (page: the page's word; flag 1: U's munmap had returned)\n")
	writeColumns(w, rows, len(columns))
	fmt.Fprintf(w, "how T's fault went:\n")
	fmt.Fprintf(w, "  %-9s %s\n", "direct", "none of the below: it went straight to its end")
	for _, s := range faultSteps {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.meaning)
	}

	fmt.Fprintln(w)
	for i, r := range reports {
		fmt.Fprintf(w, "verdict %s: %s\n", o.policies[i], exploreVerdict(r))
	}
	for i, r := range reports {
		if len(r.Failures) > 0 {
			f := r.Failures[0]
			fmt.Fprintf(w, "\nthe first failing schedule of %s: %v\n", o.policies[i], f.Err)
			fmt.Fprintf(w, "its timeline (a column per thread; '·' lines are scheduling points; steps are virtual time):\n%s", f.Timeline)
			break
		}
	}
	return nil
}

// exploreVerdict says what the outcomes of one policy show.
func exploreVerdict(r *explore.Report) string {
	if r.Failed > 0 {
		return fmt.Sprintf("BROKEN in %d of %d schedules", r.Failed, r.Schedules)
	}
	read := map[string]bool{}
	for out := range r.Outcomes {
		for _, f := range strings.Fields(out) {
			if v, ok := strings.CutPrefix(f, "read="); ok {
				read[v] = true
			}
		}
	}
	reads := strings.Join(slices.Sorted(maps.Keys(read)), " or ")
	if !read["page"] {
		return fmt.Sprintf("OK — munmap never waits for the sleeping fault: T's read is %s in every schedule; "+
			"once T has seen the flag its next read faults, and no PTE outlives the munmap", reads)
	}
	return fmt.Sprintf("OK — T's read is %s; once T has seen the flag its next read faults, and no PTE outlives the munmap", reads)
}

func countOf(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// writeColumns prints rows as columns: the first labels of each row
// left-aligned, the rest right-aligned.
func writeColumns(w io.Writer, rows [][]string, labels int) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i < labels {
				fmt.Fprintf(&b, "  %-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", width[i]+1, c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
