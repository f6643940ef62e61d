package explore

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/sched"
	"github.com/vmsim/vmsim/trace"
)

// Run explores scenario under opts: it runs schedules, each a fresh call
// of scenario followed by its threads under a controlled scheduler, and
// reports what they did. Its error is for bad Options and for replay
// tokens that are malformed or that the run parts from (see Options.Replay);
// failing schedules are in the Report.
func Run(opts Options, scenario func(*Env)) (*Report, error) {
	o, err := opts.defaults()
	if err != nil {
		return nil, err
	}
	if o.Replay != "" {
		return replay(o, scenario)
	}
	p := o.Strategy.plan(&o)
	calibrate := func() int {
		return runSchedule(o, scenario, &job{choose: defaultChooser{}}, false, nil).sched.steps
	}
	results, complete := runJobs(o, p, p.initial(calibrate), scenario)
	return report(o, results, complete, scenario)
}

// Test runs Run and fails tb at the first failing schedule, printing its
// error, its replay token and its timeline. A Run error fails tb too. It
// returns the Report (nil after a Run error).
func Test(tb testing.TB, opts Options, scenario func(*Env)) *Report {
	tb.Helper()
	r, err := Run(opts, scenario)
	if err != nil {
		tb.Fatal(err)
		return nil
	}
	if len(r.Failures) > 0 {
		f := r.Failures[0]
		stack := ""
		var pe *sched.PanicError
		if errors.As(f.Err, &pe) {
			stack = "\n" + pe.Stack
		}
		tb.Errorf("%d of %d schedules failed; the first: %v%s\nreplay: explore.Options{Replay: %q}\n%s",
			r.Failed, r.Schedules, f.Err, stack, f.Schedule, f.Timeline)
	}
	return r
}

// defaultChooser takes the default at every choice.
type defaultChooser struct{}

func (defaultChooser) choose(_ int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	t, _ := defaultChoice(cur, runnable)
	return t
}

// result is what one schedule did.
type result struct {
	key     []int
	sched   *schedule
	outcome string
	ok      bool // it ran to its end (Errorf and a failed Check allowed)
	err     error
	trace   *trace.Recorder // set when recorded
}

func (r *result) failed() bool { return r.err != nil }

// runSchedule runs one schedule of scenario, making j's choices. With
// record set it records a trace of it.
func runSchedule(o Options, scenario func(*Env), j *job, record bool, pool *sched.Pool) *result {
	rec := &recorder{choose: j.choose.choose}
	env := &Env{obs: map[string][]string{}, threads: map[*sched.Thread]*mmap.Thread{}, tracks: map[*sched.Thread]*trace.Buffer{}}
	so := sched.Options{Controller: rec, MaxSteps: o.MaxSteps, Pool: pool}
	if record {
		so.OnStep = env.onStep
	}
	env.s = sched.New(so)
	if record {
		env.rec = trace.NewRecorderWithClock(env.s.Now)
	}
	res := &result{}
	if err := catch(func() error { scenario(env); return nil }); err != nil {
		res.err = err
		res.sched = rec.finish(0)
		return res
	}
	env.started = true
	err := env.s.Run()
	res.sched = rec.finish(env.s.Steps())
	res.trace = env.rec
	if err != nil {
		var re *ReplayError
		if errors.As(err, &re) {
			err = re // the run parted from its prefix or token
		}
		res.err = err
		return res
	}
	res.ok = true
	for _, f := range env.finally {
		if err := catch(func() error { f(); return nil }); err != nil {
			env.errs = append(env.errs, "Finally: "+err.Error())
			res.ok = false
			break
		}
	}
	// Check every address space before closing any: a child's Check
	// counts the frames its parent still maps.
	spaces := env.allSpaces()
	for i, as := range spaces {
		if err := catch(func() error { return as.Check() }); err != nil {
			env.errs = append(env.errs, spaceName(i, len(spaces))+"Check: "+err.Error())
		}
	}
	for i, as := range spaces {
		if err := catch(as.Close); err != nil {
			env.errs = append(env.errs, spaceName(i, len(spaces))+"Close: "+err.Error())
		}
	}
	res.outcome = env.outcome()
	if len(env.errs) > 0 {
		res.err = errors.New(strings.Join(env.errs, "; "))
	}
	return res
}

// catch runs f and returns its error, or its panic as an error.
func catch(f func() error) (err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case error:
			err = r
		default:
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// spaceName names address space i of n in a failure message: nothing when
// there is one.
func spaceName(i, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("address space %d: ", i+1)
}

// runJobs runs the plan's jobs on o.Workers goroutines, most urgent
// (lowest key) first, until none is left or o.Schedules of them, in
// schedule order, are known. It returns the results in schedule order and
// whether every job was run.
func runJobs(o Options, p plan, first []*job, scenario func(*Env)) ([]*result, bool) {
	limit := o.Schedules
	q := &queue{limit: limit}
	q.cond.L = &q.mu
	for _, j := range first {
		heap.Push(&q.pending, j)
	}
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool := new(sched.Pool) // this worker's thread goroutines
			defer pool.Close()
			for {
				j := q.take()
				if j == nil {
					return
				}
				q.finish(j, runSchedule(o, scenario, j, false, pool), p)
			}
		}()
	}
	wg.Wait()
	results := q.sorted()
	complete := q.pending.Len() == 0
	if limit > 0 && len(results) > limit {
		results = results[:limit]
		complete = false
	}
	return results, complete && p.exhaustive()
}

// queue is the jobs of one Run: a heap of pending jobs by key, the jobs
// being run, and the results so far.
type queue struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled when pending grows or work ends
	pending jobHeap
	running []*job // the jobs being run
	done    []*result
	limit   int
	stop    bool
}

// take returns the most urgent pending job, waiting while other workers
// may still add some; nil when the Run is over.
func (q *queue) take() *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.stop {
			return nil
		}
		if q.pending.Len() > 0 {
			j := heap.Pop(&q.pending).(*job)
			q.running = append(q.running, j)
			return j
		}
		if len(q.running) == 0 {
			return nil
		}
		q.cond.Wait()
	}
}

// finish records j's result and the jobs its run opened.
func (q *queue) finish(j *job, r *result, p plan) {
	q.mu.Lock()
	defer q.mu.Unlock()
	more := p.expand(j)
	r.key = j.key
	if i := slices.Index(q.running, j); i >= 0 {
		q.running = slices.Delete(q.running, i, i+1)
	}
	q.done = append(q.done, r)
	for _, m := range more {
		heap.Push(&q.pending, m)
	}
	if q.limit > 0 && q.enoughLocked() {
		q.stop = true
	}
	q.cond.Broadcast()
}

// enoughLocked reports whether the first limit schedules in schedule
// order are all known: every pending or running job orders after at
// least limit finished ones (a job's own run is the first schedule of its
// subtree, so nothing still to run can order before it).
func (q *queue) enoughLocked() bool {
	if len(q.done) < q.limit {
		return false
	}
	var lowest []int
	have := false
	if q.pending.Len() > 0 {
		lowest, have = q.pending[0].key, true
	}
	for _, j := range q.running {
		if !have || compareKeys(j.key, lowest) < 0 {
			lowest, have = j.key, true
		}
	}
	if !have {
		return true
	}
	n := 0
	for _, r := range q.done {
		if compareKeys(r.key, lowest) < 0 {
			n++
		}
	}
	return n >= q.limit
}

// sorted returns the results in schedule order.
func (q *queue) sorted() []*result {
	slices.SortFunc(q.done, func(a, b *result) int { return compareKeys(a.key, b.key) })
	return q.done
}

// jobHeap is a min-heap of jobs by key.
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return compareKeys(h[i].key, h[j].key) < 0 }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

// report builds the Report from the results in schedule order, replaying
// the first failures to record their timelines.
func report(o Options, results []*result, complete bool, scenario func(*Env)) (*Report, error) {
	r := &Report{Strategy: o.Strategy.String(), Schedules: len(results), Complete: complete, Outcomes: map[string]int{}}
	if len(results) > 0 {
		r.First = results[0].sched.token()
	}
	for _, res := range results {
		if res.ok {
			r.Outcomes[res.outcome]++
		}
		if !res.failed() {
			continue
		}
		r.Failed++
		if len(r.Failures) < maxFailures {
			f, err := failure(o, res, scenario)
			if err != nil {
				return nil, err
			}
			r.Failures = append(r.Failures, f)
		}
	}
	return r, nil
}

// failure describes a failed schedule, replaying it with a trace
// recorder to draw its timeline. The replay must fail the same way: if it
// does not, the scenario is not deterministic, which is reported as such.
func failure(o Options, res *result, scenario func(*Env)) (Failure, error) {
	tok := res.sched.token()
	again, err := replaySchedule(o, res.sched, scenario, true)
	if err != nil {
		return Failure{}, fmt.Errorf("explore: the failing schedule %s did not replay: %w", tok, err)
	}
	if errText(again.err) != errText(res.err) {
		return Failure{}, fmt.Errorf("explore: the failing schedule %s failed differently on replay (the scenario is not deterministic): first %q, then %q", tok, errText(res.err), errText(again.err))
	}
	return Failure{Schedule: tok, Err: res.err, Timeline: timeline(again.trace), Trace: again.trace}, nil
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// replay is Run with Options.Replay: one schedule, recorded.
func replay(o Options, scenario func(*Env)) (*Report, error) {
	want, err := parseToken(o.Replay)
	if err != nil {
		return nil, err
	}
	res, err := replaySchedule(o, want, scenario, true)
	if err != nil {
		return nil, err
	}
	run := Failure{Schedule: res.sched.token(), Err: res.err, Timeline: timeline(res.trace), Trace: res.trace}
	r := &Report{Strategy: "replay", Schedules: 1, Outcomes: map[string]int{}, First: run.Schedule, Replayed: &run}
	if res.ok {
		r.Outcomes[res.outcome]++
	}
	if res.failed() {
		r.Failed = 1
		r.Failures = []Failure{run}
	}
	return r, nil
}

// replaySchedule runs the schedule want and checks that the run followed
// it to the end.
func replaySchedule(o Options, want *schedule, scenario func(*Env), record bool) (*result, error) {
	rp := &replayer{want: want}
	res := runSchedule(o, scenario, &job{choose: rp}, record, nil)
	var re *ReplayError
	if errors.As(res.err, &re) {
		return nil, re
	}
	if err := rp.check(res.sched); err != nil {
		return nil, err
	}
	return res, nil
}

// timeline renders a recorded schedule as text, numbered by step.
func timeline(rec *trace.Recorder) string {
	if rec == nil {
		return ""
	}
	var b strings.Builder
	trace.WriteText(&b, rec, trace.TextOptions{StepNanos: sched.StepNanos})
	return b.String()
}
