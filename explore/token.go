package explore

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"strings"

	"github.com/vmsim/vmsim/sched"
)

// A replay token is the sequence of choices that made one schedule, in a
// form that survives copying and pasting: "v1." followed by unpadded
// URL-safe base64 of unsigned varints:
//
//	steps, hash, n, then n pairs (step delta, thread ID)
//
// A pair is recorded at every choice that did not take the default (the
// thread that reached the point if it can go on, else the runnable thread
// with the lowest ID), so a run that mostly lets threads run on has a short
// token. steps is the run's length and hash a 32-bit FNV-1a of every
// choice (its step, the runnable threads, the thread chosen): a replay
// that makes the same choices but meets a different set of runnable
// threads somewhere is caught at its end, not passed off as the same run.
// The token holds choices, not strategy state, so it replays under any
// strategy.
const tokenPrefix = "v1."

// choice is one recorded non-default choice.
type choice struct {
	step   int
	thread int
}

// schedule is the record of one run's choices, from which its token is
// made.
type schedule struct {
	steps   int
	hash    uint32
	choices []choice
}

// token encodes s.
func (s *schedule) token() string {
	var b []byte
	b = binary.AppendUvarint(b, uint64(s.steps))
	b = binary.AppendUvarint(b, uint64(s.hash))
	b = binary.AppendUvarint(b, uint64(len(s.choices)))
	prev := 0
	for _, c := range s.choices {
		b = binary.AppendUvarint(b, uint64(c.step-prev))
		b = binary.AppendUvarint(b, uint64(c.thread))
		prev = c.step
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// errBadToken is wrapped by every error parseToken returns.
var errBadToken = errors.New("explore: malformed replay token")

// parseToken decodes a token made by schedule.token.
func parseToken(tok string) (*schedule, error) {
	tok = strings.TrimSpace(tok)
	body, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %q", errBadToken, tokenPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadToken, err)
	}
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, fmt.Errorf("%w: truncated", errBadToken)
		}
		b = b[n:]
		return v, nil
	}
	var s schedule
	var head [3]uint64
	for i := range head {
		if head[i], err = next(); err != nil {
			return nil, err
		}
	}
	const maxInt = 1<<31 - 1
	if head[0] > maxInt || head[1] > 1<<32-1 || head[2] > head[0] {
		return nil, fmt.Errorf("%w: impossible header", errBadToken)
	}
	s.steps, s.hash = int(head[0]), uint32(head[1])
	s.choices = make([]choice, head[2])
	step := 0
	for i := range s.choices {
		d, err := next()
		if err != nil {
			return nil, err
		}
		id, err := next()
		if err != nil {
			return nil, err
		}
		if d == 0 || d > uint64(s.steps-step) || id > maxInt {
			return nil, fmt.Errorf("%w: choice %d is out of order", errBadToken, i)
		}
		step += int(d)
		s.choices[i] = choice{step: step, thread: int(id)}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errBadToken, len(b))
	}
	return &s, nil
}

// defaultChoice is the thread a run takes when nothing says otherwise:
// the thread that reached the point, if it can go on, else the runnable
// thread with the lowest ID.
func defaultChoice(cur *sched.Thread, runnable []*sched.Thread) (*sched.Thread, bool) {
	for _, t := range runnable {
		if t == cur {
			return t, true
		}
	}
	return runnable[0], false
}

// recorder wraps a strategy's choices and records them as a schedule.
type recorder struct {
	choose func(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread
	sched  schedule
	hash   hash.Hash32 // FNV-1a of every choice; nil until the first
	buf    [8]byte
}

// Choose implements sched.Controller.
func (r *recorder) Choose(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	t := r.choose(step, cur, runnable)
	if def, _ := defaultChoice(cur, runnable); t != def {
		r.sched.choices = append(r.sched.choices, choice{step: step, thread: t.ID()})
	}
	if r.hash == nil {
		r.hash = fnv.New32a()
	}
	add := func(v int) {
		binary.LittleEndian.PutUint64(r.buf[:], uint64(v))
		r.hash.Write(r.buf[:])
	}
	add(step)
	for _, u := range runnable {
		add(u.ID())
	}
	add(-1 - t.ID())
	return t
}

// finish completes the schedule once the run is over.
func (r *recorder) finish(steps int) *schedule {
	r.sched.steps = steps
	if r.hash == nil {
		r.hash = fnv.New32a()
	}
	r.sched.hash = r.hash.Sum32()
	return &r.sched
}

// A ReplayError says where a replayed run parted from its token:
// uncontrolled nondeterminism in the scenario or the simulator, or a token
// made by other code.
type ReplayError struct {
	Step int    // the step at which the run and the token disagreed
	Msg  string // how
}

// Error names the step and how the run and the token parted.
func (e *ReplayError) Error() string {
	return fmt.Sprintf("explore: replay parted from its token at step %d: %s", e.Step, e.Msg)
}

// replayer chooses as a token says, and panics with a *ReplayError (which
// ends the run) the moment the run cannot follow it.
type replayer struct {
	want *schedule
	next int // index of the next choice of want to make
}

func (r *replayer) choose(step int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	if r.next < len(r.want.choices) {
		c := r.want.choices[r.next]
		if c.step < step {
			panic(&ReplayError{Step: c.step, Msg: fmt.Sprintf("the token chooses thread %d there, but the run had no choice to make", c.thread)})
		}
		if c.step == step {
			r.next++
			for _, t := range runnable {
				if t.ID() == c.thread {
					return t
				}
			}
			panic(&ReplayError{Step: step, Msg: fmt.Sprintf("the token chooses thread %d, which cannot run (runnable: %s)", c.thread, names(runnable))})
		}
	}
	t, _ := defaultChoice(cur, runnable)
	return t
}

// check compares the finished run with the token.
func (r *replayer) check(got *schedule) error {
	switch {
	case r.next < len(r.want.choices):
		return &ReplayError{Step: got.steps, Msg: fmt.Sprintf("the run ended with %d of the token's choices still to make (the next at step %d)", len(r.want.choices)-r.next, r.want.choices[r.next].step)}
	case got.steps != r.want.steps:
		return &ReplayError{Step: min(got.steps, r.want.steps), Msg: fmt.Sprintf("the run took %d steps, the token's %d", got.steps, r.want.steps)}
	case got.hash != r.want.hash:
		return &ReplayError{Step: got.steps, Msg: "the run made the token's choices but met different runnable threads on the way"}
	}
	return nil
}

func names(ts []*sched.Thread) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}
