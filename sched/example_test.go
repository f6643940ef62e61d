package sched_test

import (
	"fmt"

	"github.com/vmsim/vmsim/sched"
)

// alternate is a Controller that switches to another thread at every
// choice it can: the opposite of the default, which lets a thread run on.
type alternate struct{}

func (alternate) Choose(_ int, cur *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	for _, t := range runnable {
		if t != cur {
			return t
		}
	}
	return cur
}

// Two threads add to a counter under a controlled Mutex, with a
// scheduling point inside the critical section. Whatever the Controller
// chooses, the Mutex keeps the sections apart, and which thread ran when
// depends only on the choices: the log is the same on every machine.
func Example() {
	s := sched.New(sched.Options{Controller: alternate{}})
	var mu sched.Mutex
	mu.Bind(s, "counter")
	counter := 0
	var log []string
	for _, name := range []string{"A", "B"} {
		s.Go(name, func() {
			for range 2 {
				mu.Lock()
				v := counter
				s.Point("between.load.and.store")
				counter = v + 1
				log = append(log, fmt.Sprintf("%s:%d", name, counter))
				mu.Unlock()
			}
		})
	}
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(log, "steps:", s.Steps())
	// Output:
	// [A:1 B:2 A:3 B:4] steps: 15
}
