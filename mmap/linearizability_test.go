package mmap_test

// Linearizability of accesses against the syscalls that change what they
// reach. Two threads load and store word 0 of two pages while a third
// goroutine replaces (mmap MAP_FIXED of one of four files, MAP_PRIVATE),
// unmaps and mprotects one or both pages. Every operation is recorded
// with invoke and return timestamps from one atomic clock, and porcupine
// checks the history against a sequential model of the two pages: each
// is unmapped, or mapped with a protection and a value (a MAP_FIXED sets
// the file's contents, a store sets the stored value). A load returns the
// value, or "maperr"/"accerr"; a store returns "ok", "maperr" or "accerr".
//
// The history is linearizable because of the rules the concurrency tests
// check one by one: a syscall's new state becomes visible only after its
// shootdown has removed every stale translation (readers that miss find
// the old VMA detached and wait for the mmap lock), and once it returns
// nobody sees the old state. mprotect changes one page (one VMA) at a
// time: over several VMAs it is not atomic, in Linux or here.
// madvise(MADV_DONTNEED) and mremap are left
// out on purpose: they change PTEs before the shootdown, so an access
// overlapping them may see the new state and then, through a stale TLB
// entry of another thread, the old one — which the design allows ("until
// the call returns, other threads may still use stale translations") but
// strict linearizability does not.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

const (
	linPages = 2 // pages in the modelled range
	linFiles = 4 // files a MAP_FIXED may map
)

// linFileVal is word 0 of page p of file k.
func linFileVal(k int, p int) uint64 { return val(uint64(100+k), uint64(p)) }

type linKind uint8

const (
	linRead linKind = iota
	linWrite
	linMmap
	linMunmap
	linMprotect
)

// linInput is one operation as porcupine sees it.
type linInput struct {
	kind   linKind
	page   int       // linRead, linWrite
	val    uint64    // linWrite
	lo, hi int       // syscalls: pages [lo, hi)
	prot   mmap.Prot // linMmap, linMprotect
	file   int       // linMmap
}

// linOutput is an operation's result: "ok", "maperr", "accerr", an errno
// name for a failed syscall, or anything else the simulator returned.
type linOutput struct {
	res string
	val uint64 // linRead
}

// linPage is the model of one page.
type linPage struct {
	mapped bool
	prot   mmap.Prot
	val    uint64
}

// linState is the model of the range: a comparable value, so porcupine's
// default equality and its cache work.
type linState [linPages]linPage

func linStep(state, input, output any) (bool, any) {
	s := state.(linState)
	in, out := input.(linInput), output.(linOutput)
	switch in.kind {
	case linRead, linWrite:
		pg := &s[in.page]
		want := "ok"
		switch {
		case !pg.mapped:
			want = "maperr"
		case in.kind == linRead && pg.prot&(mmap.ProtRead|mmap.ProtWrite) == 0,
			in.kind == linWrite && pg.prot&mmap.ProtWrite == 0:
			want = "accerr"
		}
		if out.res != want {
			return false, s
		}
		if want == "ok" {
			if in.kind == linRead {
				return out.val == pg.val, s
			}
			pg.val = in.val
		}
		return true, s
	case linMmap:
		for p := in.lo; p < in.hi; p++ {
			s[p] = linPage{mapped: true, prot: in.prot, val: linFileVal(in.file, p)}
		}
		return out.res == "ok", s
	case linMunmap:
		for p := in.lo; p < in.hi; p++ {
			s[p] = linPage{}
		}
		return out.res == "ok", s
	default: // linMprotect: page by page up to the first hole (ENOMEM)
		for p := in.lo; p < in.hi; p++ {
			if !s[p].mapped {
				return out.res == mmap.ENOMEM.Error(), s
			}
			s[p].prot = in.prot
		}
		return out.res == "ok", s
	}
}

func linDescribe(input, output any) string {
	in, out := input.(linInput), output.(linOutput)
	switch in.kind {
	case linRead:
		if out.res == "ok" {
			return fmt.Sprintf("load p%d → %#x", in.page, out.val)
		}
		return fmt.Sprintf("load p%d → %s", in.page, out.res)
	case linWrite:
		return fmt.Sprintf("store p%d %#x → %s", in.page, in.val, out.res)
	case linMmap:
		return fmt.Sprintf("mmap(p%d..%d, %v, file%d) → %s", in.lo, in.hi, in.prot, in.file, out.res)
	case linMunmap:
		return fmt.Sprintf("munmap(p%d..%d) → %s", in.lo, in.hi, out.res)
	}
	return fmt.Sprintf("mprotect(p%d..%d, %v) → %s", in.lo, in.hi, in.prot, out.res)
}

func linDescribeState(state any) string {
	s := state.(linState)
	str := ""
	for p, pg := range s {
		if p > 0 {
			str += " | "
		}
		if !pg.mapped {
			str += fmt.Sprintf("p%d unmapped", p)
			continue
		}
		str += fmt.Sprintf("p%d %v %#x", p, pg.prot, pg.val)
	}
	return str
}

// linModel returns the model of a history that starts with both pages
// mapped read-write from file 0.
func linModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any {
			var s linState
			for p := range s {
				s[p] = linPage{mapped: true, prot: mmap.ProtRead | mmap.ProtWrite, val: linFileVal(0, p)}
			}
			return s
		},
		Step:              linStep,
		DescribeOperation: linDescribe,
		DescribeState:     linDescribeState,
	}
}

// linOutcome turns an access's result into a linOutput.
func linOutcome(v uint64, err error) linOutput {
	if err != nil {
		return linOutput{res: outcome(err)}
	}
	return linOutput{res: "ok", val: v}
}

// linSyscallOutcome turns a syscall's error into a linOutput.
func linSyscallOutcome(err error) linOutput {
	if err != nil {
		return linOutput{res: err.Error()}
	}
	return linOutput{res: "ok"}
}

// linHistory runs one history on a fresh address space: sysOps syscalls
// and, concurrently, 2 threads making loads and stores until the syscalls
// are done (at most maxAccess each). Both sides are paced: a syscall waits
// until a thread has made an access since the previous one, and a
// thread that has made 16 since the last syscall returned waits for the
// next to return, so that the accesses spread over the syscalls.
func linHistory(t testing.TB, cfg mmap.Config, seed uint64, maxAccess, sysOps int) []porcupine.Operation {
	as := newAS(t, cfg)
	files := make([]*mmap.File, linFiles)
	for k := range files {
		files[k] = fileOf(fmt.Sprintf("lin-%d", k), linPages, func(p uint64) uint64 { return linFileVal(k, int(p)) }, 0)
	}
	_, err := as.Mmap(arenaBase, linPages*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapFixed|mmap.MapPrivate, files[0], 0)
	require.NoError(t, err)

	var (
		clock   atomic.Int64
		sysDone atomic.Bool
		sysSeq  atomic.Int64    // syscalls returned
		done    [2]atomic.Int64 // accesses made by each thread; -1 once it stopped
		wg      sync.WaitGroup
		mu      sync.Mutex
		history []porcupine.Operation
	)
	record := func(ops []porcupine.Operation) {
		mu.Lock()
		history = append(history, ops...)
		mu.Unlock()
	}
	addr := func(p int) uint64 { return arenaBase + uint64(p)*mmap.PageSize }

	for c := range 2 {
		th := as.NewThreadNamed(fmt.Sprintf("T%d", c))
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			defer th.Close()
			defer done[c].Store(-1)
			ops := make([]porcupine.Operation, 0, 256)
			seen, lead := int64(0), 0
			for i, after := 0, 0; i < maxAccess && after < 8; i++ {
				if sysDone.Load() {
					after++
				}
				for lead >= 16 && !sysDone.Load() && sysSeq.Load() == seen {
					runtime.Gosched()
				}
				if n := sysSeq.Load(); n != seen {
					seen, lead = n, 0
				}
				lead++
				in := linInput{kind: linRead, page: rng.IntN(linPages)}
				var out linOutput
				call := clock.Add(1)
				if rng.IntN(4) == 0 {
					in.kind, in.val = linWrite, 0xAB<<56|uint64(c)<<40|uint64(i)
					out = linOutcome(0, th.WriteUint64(addr(in.page), in.val))
				} else {
					out = linOutcome(th.ReadUint64(addr(in.page)))
				}
				ret := clock.Add(1)
				ops = append(ops, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				done[c].Add(1)
				if i%8 == 0 {
					runtime.Gosched()
				}
			}
			record(ops)
		}(rand.New(rand.NewPCG(seed, uint64(c))))
	}

	rng := rand.New(rand.NewPCG(seed, 2))
	ops := make([]porcupine.Operation, 0, sysOps)
	ranges := [][2]int{{0, 1}, {1, 2}, {0, 2}}
	prots := []mmap.Prot{mmap.ProtRead, mmap.ProtRead | mmap.ProtWrite, mmap.ProtNone}
	for range sysOps {
		// Let the threads make an access or two to the current state.
		var before [2]int64
		for c := range done {
			before[c] = done[c].Load()
		}
		waitFor(time.Second, func() bool {
			for c := range done {
				if n := done[c].Load(); n < 0 || n > before[c] {
					return true
				}
			}
			return false
		})
		r := ranges[rng.IntN(len(ranges))]
		in := linInput{lo: r[0], hi: r[1], prot: prots[rng.IntN(len(prots))]}
		start, length := addr(in.lo), uint64(in.hi-in.lo)*mmap.PageSize
		var out linOutput
		call := clock.Add(1)
		switch rng.IntN(5) {
		case 0, 1:
			in.kind, in.file = linMmap, rng.IntN(linFiles)
			_, err := as.Mmap(start, length, in.prot, mmap.MapFixed|mmap.MapPrivate, files[in.file], uint64(in.lo)*mmap.PageSize)
			out = linSyscallOutcome(err)
		case 2:
			in.kind = linMunmap
			out = linSyscallOutcome(as.Munmap(start, length))
		default:
			// One page, so one VMA: mprotect, like Linux's
			// do_mprotect_pkey, changes VMA by VMA and upgrades PTEs as it
			// goes, so over two VMAs another thread can see the first one
			// changed and the second not yet — a call in progress, allowed
			// by the design, but not a single linearization point.
			in.kind, in.hi, length = linMprotect, in.lo+1, mmap.PageSize
			out = linSyscallOutcome(as.Mprotect(start, length, in.prot))
		}
		ret := clock.Add(1)
		ops = append(ops, porcupine.Operation{ClientId: 2, Input: in, Call: call, Output: out, Return: ret})
		sysSeq.Add(1)
	}
	sysDone.Store(true)
	record(ops)
	wg.Wait()
	return history
}

// vizDir is where failing histories are drawn: $VMSIM_VIZ_DIR, or the
// test's temporary directory.
func vizDir(t testing.TB) string {
	if d := os.Getenv("VMSIM_VIZ_DIR"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// checkLinearizable checks history against linModel. A history that is
// not linearizable is drawn with porcupine's visualisation under vizDir
// and its path logged; the result is returned.
func checkLinearizable(t testing.TB, history []porcupine.Operation, name string) porcupine.CheckResult {
	model := linModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, 30*time.Second)
	if res != porcupine.Ok {
		path := filepath.Join(vizDir(t), name+".html")
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("cannot write the visualisation: %v", err)
		} else {
			t.Logf("%s: %v history of %d operations drawn in %s", name, res, len(history), path)
		}
	}
	return res
}

// overlappingAccesses counts the accesses of h whose interval overlaps a
// syscall's: how much of the history the scheduler made concurrent.
func overlappingAccesses(h []porcupine.Operation) int {
	var sys []porcupine.Operation
	for _, op := range h {
		if op.Input.(linInput).kind >= linMmap {
			sys = append(sys, op)
		}
	}
	n := 0
	for _, op := range h {
		if op.Input.(linInput).kind >= linMmap {
			continue
		}
		for _, s := range sys {
			if op.Call < s.Return && s.Call < op.Return {
				n++
				break
			}
		}
	}
	return n
}

// TestLinearizable: under every policy, histories of loads and stores
// racing with mmap(MAP_FIXED), munmap and mprotect are linearizable.
func TestLinearizable(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		seed := uint64(time.Now().UnixNano())
		ops, overlapping := 0, 0
		for i := range 8 {
			h := linHistory(t, mmap.Config{Policy: p}, seed+uint64(i), 1000, 24)
			name := fmt.Sprintf("linearizable-%v-%d", p, i)
			require.Equal(t, porcupine.Ok, checkLinearizable(t, h, name), "history %d (seed %d) is not linearizable", i, seed+uint64(i))
			ops += len(h)
			overlapping += overlappingAccesses(h)
		}
		t.Logf("%d operations, %d accesses overlapping a syscall", ops, overlapping)
	})
}

// TestQuirkNoShootdownIsNotLinearizable: with TLB shootdowns skipped, the
// checker finds a history that is not linearizable (a thread loads or
// stores through a translation that munmap, mprotect or MAP_FIXED had
// removed before it began), under every policy.
func TestQuirkNoShootdownIsNotLinearizable(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		seed := uint64(time.Now().UnixNano())
		for i := range 50 {
			h := linHistory(t, mmap.Config{Policy: p, Quirks: mmap.QuirkNoShootdown}, seed+uint64(i), 1000, 24)
			if checkLinearizable(t, h, fmt.Sprintf("no-shootdown-%v-%d", p, i)) == porcupine.Illegal {
				return
			}
		}
		t.Fatal("QuirkNoShootdown on, yet every history was linearizable: linearizability is not tested")
	})
}
