// Command fork-cow shows fork(2) with copy-on-write in vmsim: a parent and
// its child write the same private pages, and each keeps its own data;
// the first write to a shared page copies it, and a page the other side
// has let go of is reused in place. It prints who sees what, the
// copy-on-write counters of both address spaces and a timeline of the
// calls and faults.
//
// With -race it then re-creates the Linux 6.4 fork race (fixed by commit
// fb49c455323f, "fork: lock VMAs of the parent process when forking"):
// under QuirkForkNoVMALock, fork copies the parent's VMAs without
// write-marking them, so a copy-on-write fault in the parent can run in
// the middle of the copy, give a VMA its first anon_vma after the child's
// copy of it was made without one, and leave the child mapping a page
// whose anon_vma is not on its chain. Free-running rounds race a writer
// thread against fork until Check reports such a broken reverse map;
// then a deterministic exploration (package explore) runs every schedule
// of a fork and one write with at most two preemptions, with and without
// the quirk, and prints the first schedule that breaks the reverse map,
// step by step, with its replay token. The race needs a fault that gives
// a VMA its first anon_vma without the mmap lock: only -policy
// per-vma-lock allows one; rcu-refcount, like mmap-lock, does that under
// the mmap lock, which fork holds, and stays whole.
//
//	go run ./examples/fork-cow
//	go run ./examples/fork-cow -race -policy per-vma-lock
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/trace"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fork-cow:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("fork-cow", flag.ContinueOnError)
	fs.SetOutput(w)
	policy := fs.String("policy", "rcu-refcount", "locking policy: rcu-refcount, mmap-lock or per-vma-lock")
	race := fs.Bool("race", false, "also re-create the Linux 6.4 fork race under QuirkForkNoVMALock")
	rounds := fs.Int("rounds", 400, "with -race: the most free-running rounds to try with the quirk (it stops at the first broken one)")
	control := fs.Int("control", 100, "with -race: the rounds to run without the quirk")
	timeline := fs.Bool("timeline", true, "print the timeline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := mmap.ParsePolicy(*policy)
	if err != nil {
		return err
	}
	if *rounds < 1 || *control < 1 {
		return errors.New("-rounds and -control must be at least 1")
	}
	if err := cow(w, p, *timeline); err != nil {
		return err
	}
	if *race {
		return forkRace(w, p, *rounds, *control)
	}
	return nil
}

// The pages of the demonstration: four private anonymous pages and one
// shared one.
const pages = 4

// cow runs the copy-on-write demonstration and prints it.
func cow(w io.Writer, p mmap.Policy, timeline bool) error {
	rec := trace.NewRecorder()
	mem := mmap.NewMemory(64)
	parent, err := mmap.New(mmap.Config{Policy: p, Memory: mem, Trace: rec})
	if err != nil {
		return err
	}
	defer parent.Close()
	pt := parent.NewThreadNamed("parent")
	defer pt.Close()
	priv, err := pt.Mmap(0, pages*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	if err != nil {
		return err
	}
	shared, err := pt.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared|mmap.MapAnonymous, nil, 0)
	if err != nil {
		return err
	}
	page := func(i int) uint64 { return priv + uint64(i)*mmap.PageSize }
	for i := range pages {
		if err := pt.WriteUint64(page(i), 0xA0+uint64(i)); err != nil {
			return err
		}
	}
	child, err := pt.Fork()
	if err != nil {
		return err
	}
	defer child.Close()
	ct := child.NewThreadNamed("child")
	defer ct.Close()

	// Each step: who writes what where.
	steps := []struct {
		t    *mmap.Thread
		addr uint64
		v    uint64
	}{
		{ct, page(0), 0xC0}, // the child copies page 0
		{pt, page(1), 0xB1}, // the parent copies page 1
		{pt, page(0), 0xB0}, // page 0 is the parent's alone again: reused
		{ct, page(1), 0xC1}, // and page 1 the child's: reused
		{ct, shared, 0x5C},  // shared memory: the parent sees it
		{pt, page(3), 0xB3}, // page 3: the parent copies it...
		{ct, page(3), 0xC3}, // ...and the child, now alone, reuses it
	}
	for _, s := range steps {
		if err := s.t.WriteUint64(s.addr, s.v); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "fork with copy-on-write, policy %s\n\n", p)
	fmt.Fprintf(w, "page       parent  child\n")
	for i := range pages {
		pv, err1 := pt.ReadUint64(page(i))
		cv, err2 := ct.ReadUint64(page(i))
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		fmt.Fprintf(w, "private %d  %#-6x  %#x\n", i, pv, cv)
	}
	pv, err1 := pt.ReadUint64(shared)
	cv, err2 := ct.ReadUint64(shared)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	fmt.Fprintf(w, "shared     %#-6x  %#x\n\n", pv, cv)
	for _, s := range []struct {
		name string
		as   *mmap.AddressSpace
	}{{"parent", parent}, {"child", child}} {
		st := s.as.Stats()
		fmt.Fprintf(w, "%-6s  forks %d, copy-on-write copies %d, reuses (pgreuse) %d, Check: %s\n",
			s.name, st.Forks, st.CopyOnWrite, st.Pgreuse, okOr(s.as.Check()))
	}
	fmt.Fprintf(w, "frames in use: %d (pages 0, 1 and 3 twice, page 2 once, still shared, and the shared page)\n", mem.InUse())
	if timeline {
		fmt.Fprintf(w, "\ntimeline (stores, faults and copy-on-write decisions):\n")
		keep := func(e trace.Event) bool {
			switch e.Kind {
			case trace.SyscallBegin, trace.SyscallEnd, trace.Store, trace.Note:
				return true
			case trace.FaultBegin:
				return e.Arg == "write"
			}
			return false
		}
		return trace.WriteText(w, rec, trace.TextOptions{Width: 30, Filter: keep})
	}
	return nil
}

// forkRace runs free-running rounds of the Linux 6.4 fork race, with and
// without QuirkForkNoVMALock, and prints how many rounds broke the
// child's reverse map; then it explores the race deterministically.
func forkRace(w io.Writer, p mmap.Policy, rounds, control int) error {
	fmt.Fprintf(w, "\nthe Linux 6.4 fork race, policy %s, free-running\n", p)
	for _, q := range []mmap.Quirks{mmap.QuirkForkNoVMALock, 0} {
		n := rounds
		if q == 0 {
			n = control
		}
		broken, first := 0, ""
		tried := 0
		for tried < n && (q == 0 || broken == 0) {
			tried++
			err := raceRound(p, q)
			if err != nil {
				var ce *checkError
				if !errors.As(err, &ce) {
					return err
				}
				broken++
				first = ce.err.Error()
			}
		}
		fmt.Fprintf(w, "quirks %-16s %d of %d rounds broke the child's reverse map\n", q.String()+":", broken, tried)
		if first != "" {
			fmt.Fprintf(w, "  Check: %s\n", firstLine(first))
		}
	}
	return exploreRace(w, p)
}

// exploreRace runs every schedule of raceScenario with at most two
// preemptions, with and without the quirk, and prints the counts and the
// first schedule that broke the child's reverse map.
func exploreRace(w io.Writer, p mmap.Policy) error {
	fmt.Fprintf(w, "\nthe same race explored: every schedule of one fork and one write with at most two preemptions\n")
	var first *explore.Failure
	for _, q := range []mmap.Quirks{mmap.QuirkForkNoVMALock, 0} {
		rep, err := explore.Run(explore.Options{Strategy: explore.Exhaustive(2)}, raceScenario(p, q))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "quirks %-16s %d of %d schedules broke the child's reverse map (search complete: %v)\n",
			q.String()+":", rep.Failed, rep.Schedules, rep.Complete)
		if first == nil && len(rep.Failures) > 0 {
			first = &rep.Failures[0]
		}
	}
	if first != nil {
		fmt.Fprintf(w, "\nthe first failing schedule (replay it with explore.Options{Replay: %q}):\n%s\n%s",
			first.Schedule, firstLine(first.Err.Error()), first.Timeline)
	}
	return nil
}

// raceScenario is the race reduced to its core for exploration: one
// private anonymous page with only the zero page mapped (its VMA has no
// anon_vma), a thread that forks and a thread that writes the page. The
// write's copy-on-write fault breaks the child's reverse map when it runs
// between fork's anon_vma_fork of the VMA and its decision to copy the
// page tables (the points fork.dup_vma and fork.copy_page_range), which
// the VMA's write mark forbids.
func raceScenario(p mmap.Policy, q mmap.Quirks) func(*explore.Env) {
	return func(e *explore.Env) {
		as := e.New(mmap.Config{Policy: p, Quirks: q})
		s := as.NewThread()
		a, err := s.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err == nil {
			_, err = s.ReadUint64(a)
		}
		s.Close()
		if err != nil {
			e.Errorf("setup: %v", err)
			return
		}
		var child *mmap.AddressSpace
		e.Go("fork", as, func(t *mmap.Thread) {
			c, err := t.Fork()
			if err != nil {
				e.Errorf("fork: %v", err)
			}
			child = c
		})
		e.Go("writer", as, func(t *mmap.Thread) {
			if err := t.WriteUint64(a, 1); err != nil {
				e.Errorf("write: %v", err)
			}
		})
		e.Finally(func() {
			if child == nil {
				return
			}
			if err := child.Check(); err != nil {
				e.Errorf("the child's Check: %v", err)
			}
			if err := child.Close(); err != nil {
				e.Errorf("closing the child: %v", err)
			}
		})
	}
}

// checkError is a Check failure of a child, as opposed to a failure to
// run the round.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }

// raceRound is one round: many small private anonymous VMAs, each with
// only the zero page mapped (so none has an anon_vma yet); a writer thread
// writes one page of each, from the lowest address up, while the main
// thread forks, which copies them in the same order.
func raceRound(p mmap.Policy, q mmap.Quirks) error {
	as, err := mmap.New(mmap.Config{Policy: p, Quirks: q})
	if err != nil {
		return err
	}
	defer as.Close()
	main, writer := as.NewThread(), as.NewThread()
	defer main.Close()
	const vmas = 256
	addrs := make([]uint64, vmas)
	for i := range addrs {
		prot := mmap.ProtRead | mmap.ProtWrite
		if i%2 == 1 {
			prot |= mmap.ProtExec // neighbours differ, so they never merge
		}
		if addrs[i], err = main.Mmap(0, mmap.PageSize, prot, mmap.MapPrivate|mmap.MapAnonymous, nil, 0); err != nil {
			return err
		}
		if _, err := main.ReadUint64(addrs[i]); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() {
		defer writer.Close()
		for i := range addrs {
			if err := writer.WriteUint64(addrs[i], 1); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	child, err := main.Fork()
	if err := errors.Join(err, <-done); err != nil {
		return err
	}
	defer child.Close()
	if err := as.Check(); err != nil {
		return fmt.Errorf("the parent is broken: %w", err)
	}
	if err := child.Check(); err != nil {
		return &checkError{err}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func okOr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "OK"
}
