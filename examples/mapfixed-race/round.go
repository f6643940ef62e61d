package main

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/trace"
)

// The contents the readers can tell apart. The old page is private
// anonymous memory that B fills with oldValue; the new mapping is a file
// whose every word is newValue, so the new contents exist before the new
// mapping is published (a MAP_FIXED anonymous mapping followed by a store
// would let readers see zeros in between, which is not the question).
const (
	oldValue    uint64 = 0x01d001d001d001d0
	newValue    uint64 = 0x2e302e302e302e30
	poisonValue uint64 = 0x6b6b6b6b6b6b6b6b // pgtable.Poison: a freed frame
)

// read is one ReadUint64 by a reader, stamped with the round's recorder
// clock just before the call and just after it returned.
type read struct {
	start, end int64 // ns on the round's trace clock
	value      uint64
	err        error // a *mmap.SignalError, or nil
}

// round is everything one round recorded. Each round runs in a fresh
// address space with its own trace recorder, so rounds are independent
// and the trace of any one of them can be written out alone.
type round struct {
	n         int
	policy    mmap.Policy
	addr      uint64
	jitter    time.Duration
	callStart int64            // just before B called mmap(MAP_FIXED)
	callEnd   int64            // just after it returned
	reads     [2][]read        // [0] thread A, [1] thread C
	marks     callMarks        // what happened inside B's call, from B's trace track
	loads     [2][]trace.Event // the Load events of A and C, in time order
	rec       *trace.Recorder
	stats     mmap.Stats // the address space's counters at the end of the round
}

// callMarks are the steps of B's mmap(MAP_FIXED), read from its trace
// track: ns on the round's clock, or -1 when the step did not happen (no
// shootdown under QuirkNoShootdown, no early publish without
// QuirkNonAtomicFixedReplace).
type callMarks struct {
	zap          int64 // the old PTE was cleared
	shootdown    int64 // every TLB had dropped the old translation
	earlyPublish int64 // a tree with neither the old VMA nor the new one was published
	publish      int64 // the tree with the new VMA was published
}

// readMarks fills r.marks and r.loads from the round's trace.
func (r *round) readMarks() {
	r.marks = callMarks{zap: -1, shootdown: -1, earlyPublish: -1, publish: -1}
	tracks := r.rec.Tracks()
	for _, e := range r.rec.Events() {
		switch tracks[e.Track] {
		case "B":
			if e.Time < r.callStart || e.Time > r.callEnd {
				continue
			}
			switch e.Kind {
			case trace.Zap:
				if r.marks.zap < 0 {
					r.marks.zap = e.Time
				}
			case trace.ShootdownEnd:
				r.marks.shootdown = e.Time
			case trace.Publish:
				// Only QuirkNonAtomicFixedReplace's early publish
				// says why ("unmap published alone").
				if e.Arg != "" && r.marks.publish < 0 {
					r.marks.earlyPublish = e.Time
				} else {
					r.marks.publish = e.Time
				}
			}
		case "A":
			if e.Kind == trace.Load {
				r.loads[0] = append(r.loads[0], e)
			}
		case "C":
			if e.Kind == trace.Load {
				r.loads[1] = append(r.loads[1], e)
			}
		}
	}
}

var readerNames = [2]string{"A", "C"}

// roundConfig says how to run one round.
type roundConfig struct {
	n          int
	policy     mmap.Policy
	quirks     mmap.Quirks
	jitter     time.Duration // how long B waits, after both readers are reading, before mmap
	afterReads int           // reads each reader makes after it sees that B returned
	maxReads   int           // bound on each reader's reads, whatever happens
}

// yieldEvery is how many reads a reader makes between runtime.Gosched
// calls. Readers spin, and on two cores three spinning goroutines would
// leave B waiting for the Go scheduler's 10 ms preemption; yielding now
// and then lets B in, the way a kernel's timeslices would. While B is
// inside mmap the readers stop yielding, so that the one that shares the
// machine with B keeps reading through the whole call.
const yieldEvery = 16

// runRound maps the old page, starts readers A and C, lets B replace the
// page with mmap(MAP_FIXED) of the file, and returns what happened.
func runRound(cfg roundConfig) (*round, error) {
	rec := trace.NewRecorder()
	as, err := mmap.New(mmap.Config{Policy: cfg.policy, Quirks: cfg.quirks, Trace: rec, PhysPages: 64})
	if err != nil {
		return nil, err
	}
	defer as.Close()

	contents := make([]byte, mmap.PageSize)
	for off := 0; off < len(contents); off += 8 {
		binary.LittleEndian.PutUint64(contents[off:], newValue)
	}
	file := mmap.NewFile("new-contents", contents, mmap.FileOptions{})

	// Thread order is column order in the text timeline.
	threads := [2]*mmap.Thread{as.NewThreadNamed("A"), nil}
	b := as.NewThreadNamed("B")
	threads[1] = as.NewThreadNamed("C")

	addr, err := b.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap of the old page: %w", err)
	}
	if err := b.WriteUint64(addr, oldValue); err != nil {
		return nil, fmt.Errorf("store to the old page: %w", err)
	}

	r := &round{n: cfg.n, policy: cfg.policy, addr: addr, jitter: cfg.jitter, rec: rec}
	var (
		ready   atomic.Int32 // readers that have read the old value once
		calling atomic.Bool  // B is about to call, or is inside, mmap
		done    atomic.Bool  // B's mmap has returned
		wg      sync.WaitGroup
		prefail [2]error
	)
	for i, t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Fault the old page in first, so that the race starts
			// with both TLBs holding the old translation.
			if v, err := t.ReadUint64(addr); err != nil || v != oldValue {
				prefail[i] = fmt.Errorf("reader %s: first read = %#x, %v", readerNames[i], v, err)
				ready.Add(1)
				return
			}
			ready.Add(1)
			reads := make([]read, 0, 1024)
			after := 0
			for len(reads) < cfg.maxReads && after < cfg.afterReads {
				if done.Load() {
					after++
				}
				s := rec.Now()
				v, err := t.ReadUint64(addr)
				reads = append(reads, read{start: s, end: rec.Now(), value: v, err: err})
				if len(reads)%yieldEvery == 0 && !calling.Load() {
					runtime.Gosched()
				}
			}
			r.reads[i] = reads
		}()
	}

	for ready.Load() < 2 {
		runtime.Gosched()
	}
	for t0 := time.Now(); time.Since(t0) < cfg.jitter; {
		runtime.Gosched()
	}
	calling.Store(true)
	r.callStart = rec.Now()
	_, err = b.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, file, 0)
	r.callEnd = rec.Now()
	done.Store(true)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("mmap(MAP_FIXED): %w", err)
	}
	for _, e := range prefail {
		if e != nil {
			return nil, e
		}
	}
	r.stats = as.Stats()
	r.readMarks()
	return r, nil
}
