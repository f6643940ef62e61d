package explore_test

import (
	"strings"
	"testing"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// forkRaceScenario is the Linux 6.4 fork race (commit fb49c455323f):
// one private anonymous page with only the zero page mapped (so its VMA
// has no anon_vma), a thread that forks and a thread that writes the
// page. Without the fork's VMA write marks the write's copy-on-write
// fault can run between the child's anon_vma_fork (points fork.dup_vma,
// fork.copy_page_range) and the copy of the page tables, give the parent
// VMA its first anon_vma, and have its page copied into a child whose
// chain lacks that anon_vma: the child's Check fails.
func forkRaceScenario(pol mmap.Policy, q mmap.Quirks) func(*explore.Env) {
	return func(e *explore.Env) {
		as := e.New(mmap.Config{Policy: pol, Quirks: q})
		s := as.NewThread()
		a, err := s.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			e.Errorf("mmap: %v", err)
		}
		if _, err := s.ReadUint64(a); err != nil {
			e.Errorf("read: %v", err)
		}
		s.Close()
		var child *mmap.AddressSpace
		e.Go("fork", as, func(t *mmap.Thread) {
			c, err := t.Fork()
			if err != nil {
				e.Errorf("fork: %v", err)
			}
			child = c
		})
		e.Go("writer", as, func(t *mmap.Thread) {
			if err := t.WriteUint64(a, 1); err != nil {
				e.Errorf("write: %v", err)
			}
		})
		e.Finally(func() {
			if child == nil {
				return
			}
			if err := child.Check(); err != nil {
				e.Errorf("child: %v", err)
			}
			if err := child.Close(); err != nil {
				e.Errorf("child close: %v", err)
			}
		})
	}
}

// TestForkNoVMALockFound: every schedule with at most two preemptions of
// the fork race scenario. With QuirkForkNoVMALock, some of them break the
// child's reverse map under PolicyRCURefcount and PolicyPerVMALock; under
// PolicyMmapLock none does, since the mmap lock alone excludes the fault;
// without the quirk none does under any policy.
func TestForkNoVMALockFound(t *testing.T) {
	for _, pol := range []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock} {
		for _, q := range []mmap.Quirks{0, mmap.QuirkForkNoVMALock} {
			rep, err := explore.Run(explore.Options{Strategy: explore.Exhaustive(2)}, forkRaceScenario(pol, q))
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Complete {
				t.Errorf("%v %v: the search did not complete", pol, q)
			}
			wantFail := q != 0 && pol != mmap.PolicyMmapLock
			if (rep.Failed > 0) != wantFail {
				t.Errorf("%v %v: %d of %d schedules failed, want failures: %v", pol, q, rep.Failed, rep.Schedules, wantFail)
				continue
			}
			for _, f := range rep.Failures {
				if !strings.Contains(f.Err.Error(), "broken reverse map") {
					t.Errorf("%v %v: %v", pol, q, f.Err)
				}
			}
			t.Logf("%v, quirks %v: %d schedules, %d broke the child's reverse map", pol, q, rep.Schedules, rep.Failed)
		}
	}
}
