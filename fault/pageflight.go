package fault

import "sync"

// flightGroup lets one read of a page run at a time: the first fault to
// miss the page reads it, and the faults that miss it meanwhile wait for
// that read and share its result (Linux: they sleep on the locked folio
// that filemap_fault's reader holds). It is what the page cache needs of
// golang.org/x/sync/singleflight, keyed by page offset, so that the
// library needs nothing outside the standard library.
//
// Concurrency: safe for concurrent use; the zero value is ready.
type flightGroup struct {
	mu      sync.Mutex
	flights map[uint64]*flight // reads in progress by page offset; protected by mu
}

// A flight is one read in progress.
type flight struct {
	done chan struct{} // closed once res is set
	res  Result        // written by the reader before done is closed
}

// do runs read for page pgoff, unless a read of pgoff is in flight, in
// which case it waits for that one. It returns the read's result and
// whether this call ran it. If read panics, the waiters see a zero result
// (they look the page up again) and the panic goes on in the reader.
func (g *flightGroup) do(pgoff uint64, read func() Result) (res Result, led bool) {
	g.mu.Lock()
	if f, ok := g.flights[pgoff]; ok {
		g.mu.Unlock()
		f.wait()
		return f.res, false
	}
	if g.flights == nil {
		g.flights = make(map[uint64]*flight)
	}
	f := &flight{done: make(chan struct{})}
	g.flights[pgoff] = f
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.flights, pgoff)
		g.mu.Unlock()
		close(f.done)
	}()
	f.res = read()
	return f.res, true
}

// wait blocks until the flight's read is done.
func (f *flight) wait() { <-f.done }
