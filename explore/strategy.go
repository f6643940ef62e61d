package explore

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/vmsim/vmsim/sched"
)

// A Strategy decides which schedules Run explores: Random, PCT or
// Exhaustive. Strategies are values: safe to share between Runs and
// goroutines.
type Strategy interface {
	// String names the strategy and its parameter, as reports print it.
	String() string
	// plan returns the source of schedules for one Run.
	plan(o *Options) plan
}

// A plan hands out the schedules of one Run as jobs.
type plan interface {
	// initial returns the first jobs. calibrate runs one schedule with
	// default choices, outside the count, and returns its length.
	initial(calibrate func() int) []*job
	// expand returns the jobs that j's finished run opened, and sets
	// j.key to the run's place in schedule order.
	expand(j *job) []*job
	// exhaustive reports whether running every job covers the
	// strategy's whole space (Report.Complete).
	exhaustive() bool
}

// A job is one schedule to run: where it stands in schedule order and how
// it chooses.
type job struct {
	key    []int   // schedule order: lexicographic, missing entries are 0
	choose chooser // the strategy's choices for this schedule
}

// chooser makes a strategy's choices during one run.
type chooser interface {
	choose(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread
}

// compareKeys orders schedules: lexicographically, a missing entry
// counting as 0.
func compareKeys(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// rngFor returns the random source of schedule i of a run with seed seed:
// each schedule has its own, so which worker runs it does not matter.
func rngFor(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)^0x9e3779b97f4a7c15))
}

// Random returns the strategy that, at each choice, picks a runnable
// thread uniformly at random. Schedule i of a Run draws from its own
// source, seeded by Options.Seed and i.
func Random() Strategy { return randomStrategy{} }

type randomStrategy struct{}

func (randomStrategy) String() string { return "random" }

func (randomStrategy) plan(o *Options) plan { return &indexedPlan{n: o.schedules(), mk: o.randomJob} }

func (o *Options) randomJob(i int) chooser { return randomChooser{rngFor(o.Seed, i)} }

type randomChooser struct{ r *rand.Rand }

func (c randomChooser) choose(_ int, _ *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	return runnable[c.r.IntN(len(runnable))]
}

// indexedPlan is n independent schedules, numbered: Random's and PCT's.
type indexedPlan struct {
	n  int
	mk func(i int) chooser
	// before, if set, runs before the jobs are made, with the
	// calibration run's length (PCT).
	before func(steps int)
}

func (p *indexedPlan) initial(calibrate func() int) []*job {
	if p.before != nil {
		p.before(calibrate())
	}
	jobs := make([]*job, p.n)
	for i := range jobs {
		jobs[i] = &job{key: []int{i}, choose: p.mk(i)}
	}
	return jobs
}

func (p *indexedPlan) expand(*job) []*job { return nil }
func (p *indexedPlan) exhaustive() bool   { return false }

// PCT returns probabilistic concurrency testing (Burckhardt, Kothari,
// Musuvathi and Nagarakatte, ASPLOS 2010) with bug depth depth (at least
// 1): each schedule gives every thread a random distinct priority and
// always runs the runnable thread with the highest, and lowers the running
// thread's priority below all others at depth-1 change points drawn
// uniformly from the steps of a run. A bug that needs depth ordering
// constraints is found in each schedule with probability at least
// 1/(n·k^(depth-1)) for n threads and k steps. k is measured once per Run
// by a calibration schedule with default choices, which is not counted.
// A change point takes effect at the next choice after its step.
func PCT(depth int) Strategy { return pctStrategy{depth: max(depth, 1)} }

type pctStrategy struct{ depth int }

func (p pctStrategy) String() string { return fmt.Sprintf("pct(%d)", p.depth) }

func (p pctStrategy) plan(o *Options) plan {
	steps := 1
	return &indexedPlan{
		n:      o.schedules(),
		before: func(k int) { steps = max(k, 1) },
		mk: func(i int) chooser {
			r := rngFor(o.Seed, i)
			c := &pctChooser{r: r, prio: map[int]int{}}
			for range p.depth - 1 {
				c.changes = append(c.changes, 1+r.IntN(steps))
			}
			slices.Sort(c.changes)
			return c
		},
	}
}

// pctChooser is one PCT schedule. Initial priorities are depth, depth+1,
// ... in the random order in which threads are first seen; change point j
// (0-based) lowers a thread to priority depth-1-j, below every initial
// priority and every earlier change.
type pctChooser struct {
	r       *rand.Rand
	prio    map[int]int // thread ID → priority
	seen    []int       // thread IDs with a priority, to shuffle new ones in
	changes []int       // steps of the change points, ascending
	applied int         // change points already applied
}

func (c *pctChooser) choose(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	// New threads get random initial priorities above every change.
	for _, t := range runnable {
		if _, ok := c.prio[t.ID()]; !ok {
			c.give(t.ID())
		}
	}
	for c.applied < len(c.changes) && c.changes[c.applied] <= step {
		if cur != nil {
			c.prio[cur.ID()] = len(c.changes) - 1 - c.applied
		}
		c.applied++
	}
	best := runnable[0]
	for _, t := range runnable[1:] {
		if c.prio[t.ID()] > c.prio[best.ID()] {
			best = t
		}
	}
	return best
}

// give assigns thread id a random rank among the initial priorities
// handed out so far: it takes a fresh priority and swaps it with a
// uniformly chosen earlier thread's, which keeps the order uniform.
func (c *pctChooser) give(id int) {
	p := len(c.changes) + len(c.seen) + 1
	c.seen = append(c.seen, id)
	c.prio[id] = p
	j := c.r.IntN(len(c.seen))
	other := c.seen[j]
	c.prio[id], c.prio[other] = c.prio[other], c.prio[id]
}

// Exhaustive returns the strategy that runs every schedule with at most
// maxPreemptions preemptions (CHESS's preemption bounding: Musuvathi and
// Qadeer, PLDI 2007), in depth-first order. A preemption is a choice of
// another thread while the one that reached the point could go on;
// choosing among threads when it has blocked or ended is free. With
// Options.Schedules 0 the search runs until the bound is covered, and
// Report.Complete says that it was.
//
// Nothing is pruned: combining partial-order reduction (sleep sets,
// DPOR) with a preemption bound is unsound as such (Coons, Musuvathi and
// McKinley, OOPSLA 2013: the bound makes otherwise independent steps
// dependent), and a sound combination needs each step's footprint, which
// vmsim's points do not record. What keeps the search small is that only
// steps with two or more runnable threads are choices at all.
func Exhaustive(maxPreemptions int) Strategy {
	return exhaustiveStrategy{bound: max(maxPreemptions, 0)}
}

type exhaustiveStrategy struct{ bound int }

func (e exhaustiveStrategy) String() string { return fmt.Sprintf("exhaustive(%d)", e.bound) }

func (e exhaustiveStrategy) plan(*Options) plan { return dfsPlan(e) }

type dfsPlan struct{ bound int }

func (p dfsPlan) initial(func() int) []*job {
	return []*job{{choose: &dfsChooser{bound: p.bound}}}
}

func (p dfsPlan) expand(j *job) []*job {
	c := j.choose.(*dfsChooser)
	j.key = c.taken
	return c.alts
}

func (dfsPlan) exhaustive() bool { return true }

// dfsChooser runs one schedule of the depth-first search: it follows its
// prefix, then takes default choices, and records every alternative
// within the bound as a job of its own. At each choice the children are
// ordered: the default first, then the other runnable threads in ID order.
type dfsChooser struct {
	bound  int
	prefix []int  // child index to take at each of the first choices
	used   int    // preemptions spent so far (the prefix's included)
	taken  []int  // child index taken at each choice
	alts   []*job // alternatives found beyond the prefix
}

func (c *dfsChooser) choose(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	def, curRuns := defaultChoice(cur, runnable)
	cost := 0
	if curRuns {
		cost = 1
	}
	i := len(c.taken)
	k := 0
	if i < len(c.prefix) {
		k = c.prefix[i]
		if k >= len(runnable) {
			panic(&ReplayError{Step: step, Msg: fmt.Sprintf("the search expected at least %d runnable threads here, and found %d", k+1, len(runnable))})
		}
	} else if c.used+cost <= c.bound {
		for alt := 1; alt < len(runnable); alt++ {
			key := append(slices.Clip(c.taken), alt)
			c.alts = append(c.alts, &job{key: key, choose: &dfsChooser{bound: c.bound, prefix: key}})
		}
	}
	if k > 0 {
		c.used += cost
	}
	c.taken = append(c.taken, k)
	if k == 0 {
		return def
	}
	// Child k: the k-th runnable thread other than the default.
	for _, t := range runnable {
		if t == def {
			continue
		}
		if k--; k == 0 {
			return t
		}
	}
	panic("explore: unreachable")
}
