package rcu_test

import (
	"fmt"
	"sync/atomic"

	"github.com/vmsim/vmsim/rcu"
)

// A configuration published under RCU. Readers use whichever version they
// loaded for as long as their section lasts; the writer replaces it without
// waiting, and retires the old version from a callback that runs only once
// no reader can still hold it.
func Example() {
	type config struct {
		name    string
		retired atomic.Bool // set when the version is reclaimed
	}

	d := rcu.NewDomain()
	defer d.Close()
	var current atomic.Pointer[config] // rcu_assign_pointer / rcu_dereference
	current.Store(&config{name: "v1"})

	r := d.Register() // one Reader per reading goroutine
	defer r.Unregister()

	r.Lock()
	c := current.Load()

	// Meanwhile, a writer publishes v2 and retires v1 after a grace period.
	old := current.Swap(&config{name: "v2"})
	d.Call(func() {
		old.retired.Store(true)
		fmt.Println("retired", old.name)
	})

	// The callback cannot run yet: this section began before the Call.
	fmt.Println("reader uses", c.name, "retired:", c.retired.Load())
	r.Unlock()

	d.Barrier() // wait for the callback, for the sake of the output
	r.Lock()
	fmt.Println("new sections see", current.Load().name)
	r.Unlock()

	// Output:
	// reader uses v1 retired: false
	// retired v1
	// new sections see v2
}

// Synchronous reclamation: the writer unpublishes a table, waits for a
// grace period, and only then reuses the old table's memory, while a reader
// on another goroutine is still using it.
func ExampleDomain_Synchronize() {
	d := rcu.NewDomain()
	var table atomic.Pointer[[]string]
	table.Store(&[]string{"alpha", "beta"})

	r := d.Register()
	defer r.Unregister()
	r.Lock()
	t := table.Load()

	reclaimed := make(chan struct{})
	go func() { // the writer
		old := table.Swap(&[]string{"gamma"})
		d.Synchronize() // returns only after the reader's Unlock
		clear(*old)     // safe: no section can still see old
		close(reclaimed)
	}()

	fmt.Println("reader sees", (*t)[0], (*t)[1]) // old table, intact
	r.Unlock()
	<-reclaimed

	r.Lock()
	fmt.Println("reader sees", (*table.Load())[0])
	r.Unlock()

	// Output:
	// reader sees alpha beta
	// reader sees gamma
}
