package sched

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// randomController picks uniformly among the runnable threads.
type randomController struct{ r *rand.Rand }

func (c randomController) Choose(_ int, _ *Thread, r []*Thread) *Thread {
	return r[c.r.IntN(len(r))]
}

// scriptController replays a list of thread IDs, one per choice, then keeps
// the current thread when it can run.
type scriptController struct{ ids []int }

func (c *scriptController) Choose(_ int, cur *Thread, r []*Thread) *Thread {
	if len(c.ids) > 0 {
		id := c.ids[0]
		c.ids = c.ids[1:]
		for _, t := range r {
			if t.ID() == id {
				return t
			}
		}
	}
	if cur != nil && slices.Contains(r, cur) {
		return cur
	}
	return r[0]
}

// The default controller runs each thread until it ends, in ID order: the
// log is deterministic.
func TestDefaultOrder(t *testing.T) {
	s := New(Options{})
	var log []string
	for _, name := range []string{"A", "B"} {
		s.Go(name, func() {
			for i := range 3 {
				s.Point("step")
				log = append(log, name+string(rune('0'+i)))
			}
		})
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(log, " "), "A0 A1 A2 B0 B1 B2"; got != want {
		t.Fatalf("log %q, want %q", got, want)
	}
}

// Every interleaving a random controller produces is one of the legal
// ones, and the same seed gives the same interleaving.
func TestRandomIsRepeatable(t *testing.T) {
	run := func(seed uint64) string {
		s := New(Options{Controller: randomController{rand.New(rand.NewPCG(seed, 0))}})
		var log []string
		for _, name := range []string{"A", "B", "C"} {
			s.Go(name, func() {
				for range 4 {
					s.Point("step")
					log = append(log, name)
				}
			})
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(log, "")
	}
	seen := map[string]bool{}
	for seed := range uint64(20) {
		a, b := run(seed), run(seed)
		if a != b {
			t.Fatalf("seed %d: %q then %q", seed, a, b)
		}
		seen[a] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 seeds gave only %d interleavings", len(seen))
	}
}

// A controlled Mutex excludes: critical sections containing points never
// overlap, whatever the controller chooses.
func TestMutexExcludes(t *testing.T) {
	for seed := range uint64(50) {
		s := New(Options{Controller: randomController{rand.New(rand.NewPCG(seed, 1))}})
		var mu Mutex
		mu.Bind(s, "m")
		inside := 0
		for _, name := range []string{"A", "B", "C"} {
			s.Go(name, func() {
				for range 3 {
					mu.Lock()
					inside++
					s.Point("inside")
					if inside != 1 {
						panic("two threads inside")
					}
					inside--
					mu.Unlock()
				}
			})
		}
		if err := s.Run(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// Lock-order inversion, forced by the controller, is reported as a
// deadlock naming both threads and what each waits for; both goroutines
// are unwound (goleak checks).
func TestDeadlockReported(t *testing.T) {
	s := New(Options{Controller: &scriptController{ids: []int{0, 0, 1}}})
	var a, b Mutex
	a.Bind(s, "a")
	b.Bind(s, "b")
	unwound, both := 0, 0
	s.Go("T0", func() {
		defer func() { unwound++ }()
		a.Lock()
		b.Lock()
		both++
		b.Unlock()
		a.Unlock()
	})
	s.Go("T1", func() {
		defer func() { unwound++ }()
		b.Lock()
		a.Lock()
		both++
		a.Unlock()
		b.Unlock()
	})
	err := s.Run()
	var de *DeadlockError
	if !errors.As(err, &de) {
		t.Fatalf("Run = %v, want a deadlock", err)
	}
	msg := err.Error()
	for _, want := range []string{"T0 waits for lock b (held by T1)", "T1 waits for lock a (held by T0)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if unwound != 2 || both != 0 {
		t.Errorf("%d threads ran their deferred calls (want 2), %d held both locks (want 0)", unwound, both)
	}
}

func TestMaxSteps(t *testing.T) {
	s := New(Options{MaxSteps: 100})
	s.Go("spinner", func() {
		for {
			s.Point("spin")
		}
	})
	var me *MaxStepsError
	if err := s.Run(); !errors.As(err, &me) || !strings.Contains(err.Error(), "spinner at spin") {
		t.Fatalf("Run = %v, want MaxSteps naming the spinner", err)
	}
}

func TestPanicFailsRun(t *testing.T) {
	s := New(Options{})
	s.Go("ok", func() {
		for {
			s.Point("loop")
		}
	})
	s.Go("bad", func() { panic("boom") })
	// The default controller would run "ok" forever: make it choose bad.
	s.opts.Controller = &scriptController{ids: []int{1}}
	var pe *PanicError
	if err := s.Run(); !errors.As(err, &pe) || pe.Thread != "bad" || pe.Value != "boom" {
		t.Fatalf("Run = %v, want bad's panic", err)
	}
}

// Wait blocks until its condition holds; a Sleep does not wake before
// its time, and the clock jumps when everything else is blocked.
func TestWaitAndSleep(t *testing.T) {
	s := New(Options{})
	flag := false
	var woke int64
	var log []string
	s.Go("waiter", func() {
		s.Wait("flag", func() bool { return flag })
		log = append(log, "waited")
	})
	s.Go("sleeper", func() {
		s.Sleep(50 * time.Microsecond)
		woke = s.Now()
		flag = true
		log = append(log, "set")
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, " "); got != "set waited" {
		t.Fatalf("log %q", got)
	}
	if woke < int64(50*time.Microsecond) {
		t.Fatalf("sleeper woke at %dns, before its 50µs", woke)
	}
}

// A daemon serves the others and is unwound, idle, at the end.
func TestDaemon(t *testing.T) {
	s := New(Options{Controller: randomController{rand.New(rand.NewPCG(1, 2))}})
	queue, served := 0, 0
	s.GoDaemon("worker", func() {
		for {
			s.Wait("work", func() bool { return queue > 0 })
			queue--
			served++
		}
	})
	for _, name := range []string{"A", "B"} {
		s.Go(name, func() {
			for range 3 {
				queue++
				s.Wait("served", func() bool { return queue == 0 })
			}
		})
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if served != 6 {
		t.Fatalf("served %d, want 6", served)
	}
}

// A waiting writer keeps new readers out, as sync.RWMutex does.
func TestRWMutexPrefersWriters(t *testing.T) {
	// R1 read-locks; W waits; R2 must not get in before W.
	s := New(Options{Controller: &scriptController{ids: []int{0, 0, 1, 2}}})
	var rw RWMutex
	rw.Bind(s, "rw")
	var log []string
	s.Go("R1", func() {
		rw.RLock()
		s.Point("hold")
		s.Point("hold")
		rw.RUnlock()
	})
	s.Go("W", func() {
		rw.Lock()
		log = append(log, "W")
		rw.Unlock()
	})
	s.Go("R2", func() {
		rw.RLock()
		log = append(log, "R2")
		rw.RUnlock()
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, " "); got != "W R2" {
		t.Fatalf("log %q, want W before R2", got)
	}
}

// Outside the run, locks are flags and points pass.
func TestOutsideRun(t *testing.T) {
	s := New(Options{})
	var mu Mutex
	mu.Bind(s, "m")
	mu.Lock()
	s.Point("setup")
	mu.Unlock()
	s.Wait("true", func() bool { return true })
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !mu.Held() {
		t.Fatal("a Mutex locked after the run is not held")
	}
	mu.Unlock()
	defer func() {
		if recover() == nil {
			t.Fatal("a Wait that can never end did not panic")
		}
	}()
	s.Wait("never", func() bool { return false })
}

func TestNilSchedIsFree(t *testing.T) {
	var s *Sched
	s.Point("x")
	var mu Mutex
	mu.Lock()
	if !mu.Held() {
		t.Fatal("a free-running Mutex locked is not held")
	}
	mu.Unlock()
	n := 0
	s.Spin("x", time.Microsecond, func() bool { n++; return n > 100 })
	if s.Running() {
		t.Fatal("a nil Sched is running")
	}
}

// A Pool lends the goroutines of one run's finished threads to the next
// run's, and Close lets them all exit (TestMain checks for leaks).
func TestPoolReusesCarriers(t *testing.T) {
	var pool Pool
	defer pool.Close()
	for run := range 5 {
		s := New(Options{Pool: &pool, Controller: randomController{rand.New(rand.NewPCG(uint64(run), 3))}})
		n := 0
		for range 3 {
			s.Go("T", func() {
				s.Point("p")
				n++
			})
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		if n != 3 || len(pool.free) != 3 {
			t.Fatalf("run %d: %d threads ran, the pool keeps %d carriers; want 3 and 3", run, n, len(pool.free))
		}
	}
}

// panicky is a Controller that panics at its first choice.
type panicky struct{}

func (panicky) Choose(int, *Thread, []*Thread) *Thread { panic("no choice") }

// A Controller that panics, even at the first step (decided on Run's own
// goroutine), ends the run with a ControllerError instead of crashing.
func TestControllerPanicEndsRun(t *testing.T) {
	s := New(Options{Controller: panicky{}})
	for range 2 {
		s.Go("T", func() { s.Point("p") })
	}
	var ce *ControllerError
	if err := s.Run(); !errors.As(err, &ce) || ce.Step != 1 {
		t.Fatalf("Run = %v, want a ControllerError at step 1", err)
	}
}
