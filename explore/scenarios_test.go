package explore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// The scenarios of the exploration tests: small races whose every
// interleaving within a bound is cheap to run. Each takes the policy and
// quirks of its address space.

const (
	oldWord = 0x01d001d001d001d0 // what a page holds before the race
	newWord = 0x2e302e302e302e30 // what the mapping that replaces it holds
)

var policies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

// class names what a load returned, for outcomes.
func class(v uint64, err error) string {
	var se *mmap.SignalError
	switch {
	case errors.As(err, &se):
		return se.Signo.String()
	case err != nil:
		return err.Error()
	case v == oldWord:
		return "old"
	case v == newWord:
		return "new"
	case v == pgtable.Poison:
		return "poison"
	}
	return fmt.Sprintf("%#x", v)
}

// okOr names how a store ended, for outcomes: "ok" or the signal.
func okOr(err error) string {
	if err == nil {
		return "ok"
	}
	return class(0, err)
}

// mapAnon maps n private anonymous read-write pages and stores w in the
// first word of each, from a setup thread.
func mapAnon(as *mmap.AddressSpace, n int, w uint64) uint64 {
	addr, err := as.Mmap(0, uint64(n)*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	if err != nil {
		panic(err)
	}
	t := as.NewThread()
	defer t.Close()
	for i := range n {
		if err := t.WriteUint64(addr+uint64(i)*mmap.PageSize, w); err != nil {
			panic(err)
		}
	}
	return addr
}

// fileOf returns a file of n pages whose first word on each page is w.
func fileOf(name string, n int, w uint64) *mmap.File {
	data := make([]byte, n*mmap.PageSize)
	for i := range n {
		for b := range 8 {
			data[i*mmap.PageSize+b] = byte(w >> (8 * b))
		}
	}
	return mmap.NewFile(name, data, mmap.FileOptions{})
}

// fixedScenario: A reads a page of anonymous memory (old) while B maps a
// file (new) over it with MAP_FIXED. A may read old or new, never fault.
func fixedScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		addr := mapAnon(as, 1, oldWord)
		f := fileOf("new", 1, newWord)
		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(addr)
			e.Observe("A", class(v, err))
			if err != nil {
				e.Errorf("A's read during mmap(MAP_FIXED) failed: %v", err)
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if _, err := t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, f, 0); err != nil {
				e.Errorf("mmap: %v", err)
			}
		})
	}
}

// munmapFlagScenario: B unmaps page P, then sets a flag in page Q. A
// reads P (so its TLB holds it), reads the flag, reads P again. Once A
// has seen the flag, its access to P must fault: munmap has returned.
func munmapFlagScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p := mapAnon(as, 1, oldWord)
		flag := mapAnon(as, 1, 0)
		e.Go("A", as, func(t *mmap.Thread) {
			t.ReadUint64(p)
			f, _ := t.ReadUint64(flag)
			v, err := t.ReadUint64(p)
			e.Observe("flag", f)
			e.Observe("P", class(v, err))
			switch {
			case f == 1 && err == nil:
				e.Errorf("A read P (%s) after seeing the flag set after munmap returned", class(v, err))
			case err == nil && v == pgtable.Poison:
				e.Errorf("A read poison from P: its frame had been freed")
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Munmap(p, mmap.PageSize); err != nil {
				e.Errorf("munmap: %v", err)
			}
			t.WriteUint64(flag, 1)
		})
	}
}

// mprotectFlagScenario: B makes page P read-only, then sets a flag. A
// writes P (its TLB now holds a writable entry), reads the flag, writes P
// again: once it has seen the flag, the write must fault.
func mprotectFlagScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p := mapAnon(as, 1, oldWord)
		flag := mapAnon(as, 1, 0)
		e.Go("A", as, func(t *mmap.Thread) {
			t.WriteUint64(p, newWord)
			f, _ := t.ReadUint64(flag)
			err := t.WriteUint64(p, newWord)
			e.Observe("flag", f)
			e.Observe("write", okOr(err))
			if f == 1 && err == nil {
				e.Errorf("A wrote P after seeing the flag set after mprotect returned")
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Mprotect(p, mmap.PageSize, mmap.ProtRead); err != nil {
				e.Errorf("mprotect: %v", err)
			}
			t.WriteUint64(flag, 1)
		})
	}
}

// truncateScenario: A faults on the second page of a two-page shared
// file mapping while B truncates the file to one page and then sets a
// flag. Once A has seen the flag, its read must be SIGBUS.
func truncateScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		f := fileOf("data", 2, newWord)
		addr, err := as.Mmap(0, 2*mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
		if err != nil {
			panic(err)
		}
		flag := mapAnon(as, 1, 0)
		e.Go("A", as, func(t *mmap.Thread) {
			fl, _ := t.ReadUint64(flag)
			v, err := t.ReadUint64(addr + mmap.PageSize)
			e.Observe("flag", fl)
			e.Observe("read", class(v, err))
			if fl == 1 && err == nil {
				e.Errorf("A read beyond the end after seeing the flag set after truncate returned")
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := f.Truncate(mmap.PageSize); err != nil {
				e.Errorf("truncate: %v", err)
			}
			t.WriteUint64(flag, 1)
		})
	}
}

// munmapReadScenario: A reads page P twice (the second read through its
// TLB) while B unmaps it. A read may return old or fault, never poison:
// the frame is freed only after the shootdown.
func munmapReadScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p := mapAnon(as, 1, oldWord)
		e.Go("A", as, func(t *mmap.Thread) {
			for range 2 {
				v, err := t.ReadUint64(p)
				e.Observe("A", class(v, err))
				if err == nil && v != oldWord {
					e.Errorf("A read %s from a page being unmapped", class(v, err))
				}
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Munmap(p, mmap.PageSize); err != nil {
				e.Errorf("munmap: %v", err)
			}
		})
	}
}

// faultMunmapScenario: A faults a page in (its first touch, a read: the
// zero page, installed on every policy's lockless path) while B unmaps
// it. Whatever the order, no PTE may outlive the munmap: Check, run
// after every schedule, looks for PTEs outside every VMA.
func faultMunmapScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(p)
			e.Observe("A", class(v, err))
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Munmap(p, mmap.PageSize); err != nil {
				e.Errorf("munmap: %v", err)
			}
		})
	}
}

// stackScenario: A touches the page just below a MAP_GROWSDOWN stack
// while B changes an unrelated mapping; the stack must grow (a fault below
// a stack takes the mmap-lock path, whatever the policy).
func stackScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		other := mapAnon(as, 1, oldWord)
		stack, err := as.Mmap(0, 4*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapGrowsDown, nil, 0)
		if err != nil {
			panic(err)
		}
		e.Go("A", as, func(t *mmap.Thread) {
			err := t.WriteUint64(stack-8, newWord)
			e.Observe("A", okOr(err))
			if err != nil {
				e.Errorf("a store just below the stack did not grow it: %v", err)
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Mprotect(other, mmap.PageSize, mmap.ProtRead); err != nil {
				e.Errorf("mprotect: %v", err)
			}
		})
	}
}

// forkScenario: A forks while B makes the first write to a page that has
// only been read, so its VMA has no anon_vma yet. Every address space on
// the memory, the child included, is checked after the schedule: a write
// fault that runs in the middle of the copy must not leave the child
// mapping a page whose anon_vma is not on its chain.
func forkScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		setup := as.NewThread()
		setup.ReadUint64(p) // the zero page: the VMA gets no anon_vma
		setup.Close()
		e.Go("A", as, func(t *mmap.Thread) {
			if _, err := t.Fork(); err != nil {
				e.Errorf("fork: %v", err)
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.WriteUint64(p, newWord); err != nil {
				e.Errorf("write: %v", err)
			}
		})
	}
}

// outcomes returns a Report's outcomes, sorted.
func outcomes(r *Report) []string {
	return slices.Sorted(maps.Keys(r.Outcomes))
}

// firstFailure describes a report's first failure for a test message.
func firstFailure(r *Report) string {
	if len(r.Failures) == 0 {
		return "none"
	}
	f := r.Failures[0]
	return fmt.Sprintf("%v\nreplay: %s\n%s", f.Err, f.Schedule, f.Timeline)
}

// TestExhaustiveNoQuirks runs every schedule with at most two preemptions
// of each scenario under each policy: none may fail, and the outcomes are
// exactly the ones the rules allow.
func TestExhaustiveNoQuirks(t *testing.T) {
	cases := []struct {
		name     string
		scenario func(mmap.Policy, mmap.Quirks) func(*Env)
		want     []string
	}{
		{"map-fixed", fixedScenario, []string{"A=new", "A=old"}},
		{"munmap-flag", munmapFlagScenario, []string{"P=SIGSEGV flag=0", "P=SIGSEGV flag=1", "P=old flag=0"}},
		{"mprotect-flag", mprotectFlagScenario, []string{"flag=0 write=SIGSEGV", "flag=0 write=ok", "flag=1 write=SIGSEGV"}},
		{"truncate", truncateScenario, []string{"flag=0 read=SIGBUS", "flag=0 read=new", "flag=1 read=SIGBUS"}},
		{"munmap-read", munmapReadScenario, []string{"A=SIGSEGV A=SIGSEGV", "A=old A=SIGSEGV", "A=old A=old"}},
		{"fault-munmap", faultMunmapScenario, []string{"A=0x0", "A=SIGSEGV"}},
		{"fork-write", forkScenario, []string{""}},
		{"anon-split", anonSplitScenario, []string{"A=ok"}},
	}
	for _, c := range cases {
		for _, pol := range policies {
			t.Run(c.name+"/"+pol.String(), func(t *testing.T) {
				r, err := Run(Options{Strategy: Exhaustive(2)}, c.scenario(pol, 0))
				if err != nil {
					t.Fatal(err)
				}
				if !r.Complete || r.Failed > 0 {
					t.Fatalf("%d schedules, complete %v, %d failed; first: %s", r.Schedules, r.Complete, r.Failed, firstFailure(r))
				}
				if got := outcomes(r); !slices.Equal(got, c.want) {
					t.Errorf("outcomes %q, want %q", got, c.want)
				}
				t.Logf("%d schedules", r.Schedules)
			})
		}
	}
}

// TestQuirksFound: each quirk is found by exploration, with a fixed seed
// and a bounded number of schedules, under every policy where it breaks a
// rule, and the policies it cannot break stay clean.
func TestQuirksFound(t *testing.T) {
	all := []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}
	lockless := []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyPerVMALock}
	cases := []struct {
		name     string
		quirks   mmap.Quirks
		scenario func(mmap.Policy, mmap.Quirks) func(*Env)
		breaks   []mmap.Policy // policies where the quirk must be found
		want     string        // in the first failure's error
	}{
		{"non-atomic-fixed-replace", mmap.QuirkNonAtomicFixedReplace | mmap.QuirkNoLockFallback, fixedScenario, lockless, "SIGSEGV"},
		{"no-grace-period", mmap.QuirkNoGracePeriod, munmapReadScenario, all, "poison"},
		{"no-shootdown", mmap.QuirkNoShootdown, munmapFlagScenario, all, "after seeing the flag"},
		{"no-shootdown-mprotect", mmap.QuirkNoShootdown, mprotectFlagScenario, all, "after seeing the flag"},
		{"no-detach-check", mmap.QuirkNoDetachCheck, faultMunmapScenario, []mmap.Policy{mmap.PolicyRCURefcount}, "Check"},
		// Under rcu-refcount a fault that would give a VMA its first
		// anon_vma falls back to the mmap lock, which fork holds: the
		// race needs a lockless anon_vma_prepare, which only the
		// per-VMA lock allows.
		{"fork-no-vma-lock", mmap.QuirkForkNoVMALock, forkScenario, []mmap.Policy{mmap.PolicyPerVMALock}, "reverse map"},
	}
	for _, c := range cases {
		for _, pol := range all {
			t.Run(c.name+"/"+pol.String(), func(t *testing.T) {
				r, err := Run(Options{Strategy: PCT(3), Schedules: 300, Seed: 1}, c.scenario(pol, c.quirks))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(c.breaks, pol) {
					if r.Failed > 0 {
						t.Fatalf("the quirk cannot break this policy, yet: %s", firstFailure(r))
					}
					return
				}
				if r.Failed == 0 {
					t.Fatalf("%d PCT schedules did not find the quirk", r.Schedules)
				}
				if !slices.ContainsFunc(r.Failures, func(f Failure) bool { return strings.Contains(f.Err.Error(), c.want) }) {
					t.Errorf("no failure mentions %q; the first: %v", c.want, r.Failures[0].Err)
				}
				t.Logf("%d of %d schedules failed", r.Failed, r.Schedules)
			})
		}
	}
}

// TestNoLockFallbackChangesOutcome: without the fallback to the mmap lock,
// a fault that finds no VMA is final, so a store just below a stack no
// longer grows it under the lockless policies (growth takes the lock).
// The outcome sets with and without the quirk differ.
func TestNoLockFallbackChangesOutcome(t *testing.T) {
	for _, pol := range policies {
		t.Run(pol.String(), func(t *testing.T) {
			without, err := Run(Options{Strategy: Exhaustive(1)}, stackScenario(pol, 0))
			if err != nil {
				t.Fatal(err)
			}
			with, err := Run(Options{Strategy: Exhaustive(1)}, stackScenario(pol, mmap.QuirkNoLockFallback))
			if err != nil {
				t.Fatal(err)
			}
			if got := outcomes(without); !slices.Equal(got, []string{"A=ok"}) || without.Failed > 0 {
				t.Fatalf("without the quirk: outcomes %q, %d failed", got, without.Failed)
			}
			got := outcomes(with)
			if pol == mmap.PolicyMmapLock {
				if !slices.Equal(got, []string{"A=ok"}) {
					t.Fatalf("the quirk changed mmap-lock's outcomes: %q", got)
				}
				return
			}
			if !slices.Equal(got, []string{"A=SIGSEGV"}) {
				t.Fatalf("with the quirk: outcomes %q, want only A=SIGSEGV", got)
			}
		})
	}
}

// TestPerVMALockNoUseAfterUnlock: under PolicyPerVMALock, a fault whose
// read lock is refused must not look at the VMA once it has left its RCU
// section: a munmap may free it in between. Every schedule within two
// preemptions of a fault racing munmap runs clean.
func TestPerVMALockNoUseAfterUnlock(t *testing.T) {
	r, err := Run(Options{Strategy: Exhaustive(2)}, func(e *Env) {
		as := e.New(mmap.Config{Policy: mmap.PolicyPerVMALock})
		// Two pages of one VMA, neither touched: A's read faults, and
		// B's munmap of the first page replaces the VMA A looks up.
		p, err := as.Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(p + mmap.PageSize)
			e.Observe("A", class(v, err))
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Munmap(p, mmap.PageSize); err != nil {
				e.Errorf("munmap: %v", err)
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed > 0 || !r.Complete {
		t.Fatalf("%d of %d schedules failed (complete %v); first: %s", r.Failed, r.Schedules, r.Complete, firstFailure(r))
	}
	// The second page is never unmapped: A reads the zero page.
	if got := outcomes(r); !slices.Equal(got, []string{"A=0x0"}) {
		t.Fatalf("outcomes %q, want A=0x0 only", got)
	}
}

// badIOBacking breaks the I/O contract: its Fault releases the fault's
// lock for I/O and then returns a page instead of Retry.
type badIOBacking struct{}

func (badIOBacking) Name() string   { return "bad-io" }
func (badIOBacking) Open(*vma.VMA)  {}
func (badIOBacking) Close(*vma.VMA) {}
func (badIOBacking) Fault(vf *fault.VMFault) fault.Result {
	vf.ReleaseForIO()
	vf.Sched().Point("bad-io.io")
	p, err := vf.Frames().Alloc()
	if err != nil {
		return fault.OOM
	}
	vf.Page, vf.Owned = p, true
	return 0
}

// TestContractErrorAfterUnpin: a backing that breaks its contract after
// letting go of the fault's lock is reported with a ContractError naming
// it, even when a munmap has freed the VMA in between: the report must not
// read the freed VMA.
func TestContractErrorAfterUnpin(t *testing.T) {
	for _, pol := range []mmap.Policy{mmap.PolicyMmapLock, mmap.PolicyPerVMALock} {
		t.Run(pol.String(), func(t *testing.T) {
			r, err := Run(Options{Strategy: Exhaustive(2)}, func(e *Env) {
				as := e.New(mmap.Config{Policy: pol})
				p, err := as.MmapBacking(0, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate, badIOBacking{}, 0)
				if err != nil {
					panic(err)
				}
				e.Go("A", as, func(t *mmap.Thread) {
					_, err := t.ReadUint64(p)
					var ce *mmap.ContractError
					switch {
					case errors.As(err, &ce) && ce.Backing == "bad-io":
						e.Observe("A", "contract")
					default:
						e.Observe("A", class(0, err))
					}
				})
				e.Go("B", as, func(t *mmap.Thread) { t.Munmap(p, mmap.PageSize) })
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Failed > 0 {
				t.Fatalf("%d of %d schedules failed; first: %s", r.Failed, r.Schedules, firstFailure(r))
			}
			if got := outcomes(r); !slices.Equal(got, []string{"A=SIGSEGV", "A=contract"}) {
				t.Fatalf("outcomes %q", got)
			}
		})
	}
}

// anonSplitScenario: A's first write to the second page of a VMA gives it
// an anon_vma while B's mprotect of the first page splits the VMA. The
// split copies the VMA's anon_vma state; whatever the order, the page A
// wrote must belong to an anon_vma on its VMA's chain (Check, after every
// schedule).
func anonSplitScenario(pol mmap.Policy, q mmap.Quirks) func(*Env) {
	return func(e *Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		p, err := as.Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		e.Go("A", as, func(t *mmap.Thread) { e.Observe("A", okOr(t.WriteUint64(p+mmap.PageSize, newWord))) })
		e.Go("B", as, func(t *mmap.Thread) {
			if err := t.Mprotect(p, mmap.PageSize, mmap.ProtRead); err != nil {
				e.Errorf("mprotect: %v", err)
			}
		})
	}
}
