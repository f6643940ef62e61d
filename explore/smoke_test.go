package explore

import (
	"testing"

	"github.com/vmsim/vmsim/mmap"
)

func TestSmokeMapFixed(t *testing.T) {
	for _, pol := range []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock} {
		r, err := Run(Options{Strategy: Exhaustive(1), Workers: 1}, func(e *Env) {
			as := e.New(mmap.Config{Policy: pol})
			addr, err := as.Mmap(0, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
			if err != nil {
				panic(err)
			}
			setup := as.NewThread()
			setup.WriteUint64(addr, 1)
			setup.Close()
			f := mmap.NewFile("new", make([]byte, mmap.PageSize), mmap.FileOptions{})
			f.WriteAt([]byte{2, 0, 0, 0, 0, 0, 0, 0}, 0)
			for _, name := range []string{"A", "C"} {
				e.Go(name, as, func(th *mmap.Thread) {
					v, err := th.ReadUint64(addr)
					if err != nil {
						e.Observe(name, err)
						return
					}
					e.Observe(name, v)
				})
			}
			e.Go("B", as, func(th *mmap.Thread) {
				if _, err := th.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, f, 0); err != nil {
					e.Errorf("mmap: %v", err)
				}
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: %d schedules, complete %v, failed %d, outcomes %v", pol, r.Schedules, r.Complete, r.Failed, r.Outcomes)
		for _, f := range r.Failures[:min(1, len(r.Failures))] {
			t.Logf("%v\n%s", f.Err, f.Timeline)
		}
	}
}
