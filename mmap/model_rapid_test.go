package mmap_test

import (
	"math/bits"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/vmsim/vmsim/mmap"
)

// rapidSource draws the generator's choices from rapid, so that a failing
// sequence shrinks to a short one.
type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(n int, label string) int {
	if n <= 1 {
		return 0
	}
	// rapid's integer generators favour small values, which would make
	// the first choice of every switch dominate; unbiased bits (Bool is
	// one fair bit) taken modulo n spread the choices evenly and still
	// shrink towards 0.
	v := 0
	for range bits.Len(uint(n-1)) + 3 {
		v <<= 1
		if rapid.Bool().Draw(s.t, label) {
			v |= 1
		}
	}
	return v % n
}

// rapidArena is where the rapid test aims: 64 pages at 1 GiB, with
// mmap_min_addr two pages above its base (so MAP_FIXED there is EPERM and
// hints there are raised) and mmap_base 48 pages up, so that top-down
// placement lands among the calls' own mappings.
const (
	rapidBase  uint64 = 1 << 30
	rapidPages        = 64
)

var diffPolicies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

// TestModelRapid is a rapid state machine: random sequences of mmap
// (fixed, fixed-noreplace, hinted and hint-less; private and shared
// anonymous memory and files opened read-write and read-only), munmap,
// mprotect, mremap (in place, MAYMOVE, FIXED, DONTUNMAP, duplication),
// madvise (including DONTNEED, FREE, RANDOM, SEQUENTIAL and invalid
// advice), loads and stores, and fork (the calls then go to any live
// process of the family, which may also be closed), run on address
// spaces and on the reference
// model (internal/model, itself checked against Linux 6.18), for each
// policy. After every call the result, errno, layout, hidden VMA state,
// sampled contents and Check must agree. Some runs use a small
// MaxMapCount, so that the map-count ENOMEM paths run, and some a small
// StackLimit, so that loads, stores and faults below a MAP_GROWSDOWN VMA
// (which grow it) are also refused by RLIMIT_STACK, besides the guard
// gap and mmap_min_addr.
func TestModelRapid(t *testing.T) {
	for _, pol := range diffPolicies {
		t.Run(pol.String(), func(t *testing.T) {
			var total simModel
			rapid.Check(t, func(rt *rapid.T) {
				p := runRapidSequence(rt, pol)
				total.calls += p.calls
				for k := range numOpKinds {
					total.ok[k] += p.ok[k]
					total.failed[k] += p.failed[k]
				}
				total.stackTried += p.stackTried
				total.stackGrown += p.stackGrown
				total.lockedOK += p.lockedOK
				total.lockedPerm += p.lockedPerm
				total.lockedAgain += p.lockedAgain
				total.lockedFailed += p.lockedFailed
				total.forks += p.forks
			})
			t.Logf("%d calls compared with the model, %d forks: %s", total.calls, total.forks, total.counts())
		})
	}
}

func runRapidSequence(rt *rapid.T, pol mmap.Policy) *simModel {
	src := rapidSource{rt}
	cfg := diffConfig{
		policy:   pol,
		mmapBase: rapidBase + 48*pg,
		minAddr:  rapidBase + 2*pg,
	}
	if src.intn(3, "small map count") == 0 {
		cfg.maxMapCount = 4 + src.intn(12, "max map count")
	}
	if src.intn(3, "small stack limit") == 0 {
		// RLIMIT_STACK of a few pages, so that stack growth is refused
		// by acct_stack_growth() inside the arena.
		cfg.stackLimit = uint64(1+src.intn(8, "stack limit")) * pg
	}
	switch src.intn(6, "memlock limit") {
	case 0, 1:
		// RLIMIT_MEMLOCK of a few pages (sometimes less than one), so
		// MAP_LOCKED, mremap and stack growth meet it inside the arena.
		cfg.memlockLimit = int64(src.intn(24, "memlock pages"))*pg + int64(src.intn(2, "odd")*100)
		if cfg.memlockLimit == 0 {
			cfg.memlockLimit = 100
		}
	case 2:
		cfg.memlockLimit = mmap.MemlockNone // MAP_LOCKED is EPERM
	}
	p, err := newSimModel(cfg)
	if err != nil {
		rt.Fatal(err)
	}
	// procs are the live processes: p and its forks (and theirs); each
	// call goes to one of them. p, whose counts the log shows, lives to
	// the end.
	procs := []*simModel{p}
	defer func() {
		for _, q := range procs {
			q.close()
		}
	}()
	n := 20 + src.intn(80, "calls")
	for range n {
		switch src.intn(16, "family") {
		case 0:
			if len(procs) < 4 {
				q := procs[src.intn(len(procs), "fork which")]
				c, err := q.fork()
				if err != nil {
					rt.Fatalf("fork: %v\n%s", err, q.report())
				}
				procs = append(procs, c)
				p.forks++
				for _, x := range []*simModel{q, c} {
					if err := x.compare(); err != nil {
						rt.Fatalf("fork: %v\n%s", err, x.report())
					}
				}
				continue
			}
		case 1:
			if len(procs) > 1 {
				i := 1 + src.intn(len(procs)-1, "close which")
				procs[i].close()
				procs = slices.Delete(procs, i, i+1)
				if err := p.compare(); err != nil {
					rt.Fatalf("after a close: %v\n%s", err, p.report())
				}
				continue
			}
		}
		q := procs[src.intn(len(procs), "which process")]
		g := genCfg{base: rapidBase, pages: rapidPages, below: 2, wild: true, files: len(q.files), vmas: q.as.Mappings, stacks: q.stackStarts}
		o := g.gen(src)
		if err := q.do(o); err != nil {
			rt.Fatalf("%s: %v\n%s", o, err, q.report())
		}
		if err := q.compare(); err != nil {
			rt.Fatalf("%s: %v\n%s", o, err, q.report())
		}
		for range 3 {
			a := g.page(src) + pageOffsets[src.intn(len(pageOffsets), "sample offset")]
			if err := q.load(a); err != nil {
				rt.Fatalf("after %s: sample: %v\n%s", o, err, q.report())
			}
		}
	}
	// Finally every page of the arena, in every process.
	for _, q := range procs {
		for a := rapidBase - 2*pg; a < rapidBase+rapidPages*pg; a += pg {
			if err := q.load(a + 100); err != nil {
				rt.Fatalf("final scan: %v\n%s", err, q.report())
			}
		}
	}
	return p
}
