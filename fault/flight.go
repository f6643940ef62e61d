package fault

import (
	"sync"

	"github.com/vmsim/vmsim/sched"
)

// flights deduplicates concurrent page-cache misses on one page: the
// first fault to miss a page reads it, and faults on the same page that
// arrive meanwhile wait for that read instead of doing their own (Linux:
// they sleep on the locked folio in filemap_fault → folio_lock_or_retry).
// In a controlled run the wait is one the Sched knows about.
//
// The zero value is ready to use. Safe for concurrent use.
type flights struct {
	mu sync.Mutex         // a leaf lock: no scheduling point inside
	m  map[uint64]*flight // reads in progress, by page offset; protected by mu
}

// A flight is one read in progress. Its result is written by the reader
// before done is closed (and finished set), and read by the waiters after.
type flight struct {
	done     chan struct{} // closed when the read is over
	finished bool          // controlled runs: set when the read is over
	res      Result
}

// do runs read for key unless a read of key is in progress, in which case
// it waits for that one; it returns the read's result and whether this
// call did the read.
func (g *flights) do(s *sched.Sched, key uint64, read func() Result) (res Result, led bool) {
	g.mu.Lock()
	if f, ok := g.m[key]; ok {
		g.mu.Unlock()
		if s != nil {
			s.Wait("pagecache.wait_io", func() bool { return f.finished })
		} else {
			<-f.done
		}
		return f.res, false
	}
	if g.m == nil {
		g.m = make(map[uint64]*flight)
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	g.mu.Unlock()

	f.res = read()
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.finished = true
	close(f.done)
	return f.res, true
}
