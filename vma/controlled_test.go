package vma

import (
	"math/rand/v2"
	"testing"

	"github.com/vmsim/vmsim/sched"
)

type randomChoices struct{ r *rand.Rand }

func (c randomChoices) Choose(_ int, _ *sched.Thread, runnable []*sched.Thread) *sched.Thread {
	return runnable[c.r.IntN(len(runnable))]
}

// In a controlled run, a writer's WriteLock waits for the VMA's readers
// as a wait the Sched knows about: whatever the choices, no reader holds
// the read lock while the writer holds the write mark, and the run never
// hangs on the wait.
func TestControlledWriteLockWaitsForReaders(t *testing.T) {
	for seed := range uint64(100) {
		s := sched.New(sched.Options{Controller: randomChoices{rand.New(rand.NewPCG(seed, 0))}})
		tr := NewTree()
		tr.Bind(s)
		v := New(pages(16), pages(20), ProtRead, 0, 0, nil)
		insertCommit(tr, v)
		const seq = 2
		readers, writing := 0, false
		for _, name := range []string{"R1", "R2"} {
			s.Go(name, func() {
				for range 2 {
					if !v.TryReadLock(seq) {
						continue
					}
					readers++
					s.Point("reading")
					if writing {
						panic("a reader holds the lock while the writer does")
					}
					readers--
					v.ReadUnlock()
				}
			})
		}
		s.Go("W", func() {
			v.WriteLock(seq)
			writing = true
			if readers != 0 {
				panic("the writer passed WriteLock with readers inside")
			}
			s.Point("writing")
			writing = false
		})
		if err := s.Run(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}
