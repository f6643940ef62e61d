package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/trace"
)

func us(ns int64) string {
	if ns >= 1e6 || ns <= -1e6 {
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
}

// outcome classifies what T got.
type outcome int

const (
	segvAfterUnmap outcome = iota // T's read got SIGSEGV after munmap returned
	readThenUnmap                 // T's read succeeded; munmap, begun during it, returned after it
	late                          // U began munmap only after T's read had returned: no race
	staleAfter                    // a read begun after munmap returned read the page: a PTE outlived the munmap
	other
)

func classify(r *result) outcome {
	var se *mmap.SignalError
	switch {
	case r.againErr == nil:
		return staleAfter
	case errors.As(r.readErr, &se) && se.Signo == mmap.SIGSEGV && se.Code == mmap.SegvMaperr && r.readEnd > r.unmap[1]:
		return segvAfterUnmap
	case r.unmap[0] > r.readEnd:
		return late
	case r.readErr == nil && r.value == fileMagic+readPage && r.unmap[1] > r.readEnd:
		return readThenUnmap
	}
	return other
}

var outcomeNames = [...]string{
	segvAfterUnmap: "T's read got SIGSEGV (SEGV_MAPERR) after munmap returned",
	readThenUnmap:  "munmap waited for the fault; T read the page",
	late:           "U was late: munmap began after T's read had returned",
	staleAfter:     "a read begun after munmap returned still read the page",
	other:          "something else (see the first round)",
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// report prints one policy's rounds: the first in detail, then the tally.
func report(w io.Writer, results []*result, timeline bool) {
	r := results[0]
	fmt.Fprintf(w, "\npolicy %s\n", r.policy)
	type step struct {
		at   int64
		who  string
		what string
	}
	t0 := r.readStart
	steps := []step{
		{r.readStart, "T", fmt.Sprintf("reads %#x (page %d, not in the page cache): a fault, and a disk read", r.readAddr, readPage)},
		{r.unmap[0], "U", fmt.Sprintf("munmap(%#x, %#x)", r.addr, filePages*mmap.PageSize)},
		{r.unmap[1], "U", fmt.Sprintf("munmap returned, after %s", us(r.unmap[1]-r.unmap[0]))},
	}
	if r.readErr != nil {
		steps = append(steps, step{r.readEnd, "T", fmt.Sprintf("read returned %v", r.readErr)})
	} else {
		steps = append(steps, step{r.readEnd, "T", fmt.Sprintf("read returned %#x", r.value)})
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	for _, s := range steps {
		fmt.Fprintf(w, "  %10s  %s  %s\n", "+"+us(s.at-t0), s.who, s.what)
	}
	if r.againErr == nil {
		fmt.Fprintf(w, "  %10s  T  reads again: %#x — through a PTE that outlived the munmap\n", "", r.againValue)
	} else {
		fmt.Fprintf(w, "  %10s  T  reads again: %s\n", "", errText(r.againErr))
	}

	st := r.stats
	fmt.Fprintf(w, "  the racing fault: %d (%d major), fast path %d, slow path %d, retries %d, fallbacks %d, installs refused %d, locked %d\n",
		st.Pgfault, st.Pgmajfault, st.FastPath, st.SlowPath, st.Retries, st.Fallbacks, st.InstallRaced, st.LockedFaults)
	fmt.Fprintf(w, "                    per-VMA lock success %d, abort %d, retry %d, miss %d; SIGSEGV %d; page cache: %d miss, %d read\n",
		st.VMALockSuccess, st.VMALockAbort, st.VMALockRetry, st.VMALockMiss, st.SegvMaperr, r.file.Misses, r.file.Reads)
	if r.checkErr != nil {
		fmt.Fprintf(w, "  Check: FAILED: %v\n", r.checkErr)
	} else {
		fmt.Fprintf(w, "  Check: OK (no PTE outlived the munmap, every frame accounted for)\n")
	}

	tally := map[outcome]int{}
	for _, x := range results {
		tally[classify(x)]++
	}
	var parts []string
	for o := segvAfterUnmap; o <= other; o++ {
		if tally[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d× %s", tally[o], outcomeNames[o]))
		}
	}
	fmt.Fprintf(w, "  rounds: %d — %s\n", len(results), strings.Join(parts, ", "))
	fmt.Fprintf(w, "verdict %s: %s\n", r.policy, verdict(r))

	if timeline {
		fmt.Fprintf(w, "  timeline of round 1:\n")
		var b strings.Builder
		if err := trace.WriteText(&b, r.rec, trace.TextOptions{Width: 40}); err != nil {
			fmt.Fprintf(w, "  (timeline: %v)\n", err)
		}
		for _, l := range strings.SplitAfter(b.String(), "\n") {
			if l != "" {
				fmt.Fprint(w, "    "+l)
			}
		}
	}
}

// installTime returns when T's fault installed the page (its Install
// trace event), or -1 if it never did.
func installTime(r *result) int64 {
	tracks := r.rec.Tracks()
	for _, e := range r.rec.Events() {
		if e.Kind == trace.Install && tracks[e.Track] == "T" {
			return e.Time
		}
	}
	return -1
}

// verdict says in one line what the round showed, from what was measured:
// whether munmap returned only after T's fault had installed the page
// (it waited for it), and what T's read got.
func verdict(r *result) string {
	st := r.stats
	took := us(r.unmap[1] - r.unmap[0])
	if r.againErr == nil || r.checkErr != nil {
		why := "Check found nothing"
		if r.checkErr != nil {
			why = "Check: " + strings.ReplaceAll(r.checkErr.Error(), "\n", "; ")
		}
		return fmt.Sprintf("BROKEN — a read begun after munmap returned got %#x (%s): the sleeping fault installed its PTE after munmap's zap, and the PTE outlived the munmap (%s)",
			r.againValue, errText(r.againErr), why)
	}
	if classify(r) == late {
		return fmt.Sprintf("no race: U began munmap %s after T's read had returned (a busy machine? try a longer -latency)", us(r.unmap[0]-r.readEnd))
	}
	inst := installTime(r)
	var first string
	if inst > r.unmap[0] && inst < r.unmap[1] {
		held := "the mmap lock"
		if r.policy == mmap.PolicyPerVMALock && st.VMALockSuccess > 0 {
			held = "the VMA's read lock"
		}
		first = fmt.Sprintf("munmap waited %s for the fault, which held %s across the disk read", took, held)
	} else {
		first = fmt.Sprintf("munmap returned after %s without waiting for the sleeping fault", took)
	}
	switch classify(r) {
	case readThenUnmap:
		return fmt.Sprintf("%s; T read %#x, and its next read got %s", first, r.value, errText(r.againErr))
	case segvAfterUnmap:
		after := us(r.readEnd - r.unmap[1])
		if inst >= 0 {
			return fmt.Sprintf("%s; the fault installed the page, but munmap zapped it before T's load retried, and the load faulted again, found no VMA and got SIGSEGV (SEGV_MAPERR) %s after munmap returned",
				first, after)
		}
		var path []string
		if st.ReleasedForIO > 0 {
			held := "the mmap lock"
			if r.policy == mmap.PolicyPerVMALock {
				held = "the VMA's read lock"
			}
			path = append(path, "it dropped "+held+" for the disk read and asked to be retried (maybe_unlock_mmap_for_io)")
		}
		if st.InstallRaced > 0 {
			path = append(path, "its install was refused (the VMA was detached)")
		}
		if st.VMALockAbort > 0 {
			path = append(path, "its VMA lock was refused")
		}
		switch {
		case st.Retries == 1:
			path = append(path, "it retried")
		case st.Retries > 1:
			path = append(path, fmt.Sprintf("it retried %d times", st.Retries))
		}
		if st.Fallbacks > 0 {
			path = append(path, "fell back to the mmap lock")
		} else if st.ReleasedForIO > 0 {
			path = append(path, "took the mmap lock again")
		}
		path = append(path, "found no VMA")
		return fmt.Sprintf("%s; the fault lost the race — %s — and T got SIGSEGV (SEGV_MAPERR) %s after munmap returned",
			first, strings.Join(path, ", "), after)
	}
	return fmt.Sprintf("unexpected: T's read returned %#x, %s; munmap took %s", r.value, errText(r.readErr), took)
}
