package fault

import (
	"testing"

	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// TestPerVMALockRefusedReadsNoFreedVMA: when the per-VMA read lock is
// refused (here because a writer has detached the VMA and not yet
// published), the fault must not touch the VMA once it has left the RCU
// read-side section that found it: the writer may publish, wait a grace
// period and free (poison) it at that very moment. Linux reads
// vma->detached inside rcu_read_lock (lock_vma_under_rcu); a use after
// the section would panic here with "vma: use after free".
func TestPerVMALockRefusedReadsNoFreedVMA(t *testing.T) {
	mm := NewMM(pgtable.NewFrames(16), Config{Policy: PolicyPerVMALock})
	v := vma.New(testBase, testBase+ps, vma.ProtRead|vma.ProtWrite, vma.FlagAnonymous, testBase/ps, nil)
	tx := mm.Tree.Begin()
	tx.Insert(v)
	tx.Commit()

	// A writer detaches v without publishing: the snapshot still holds
	// it, and TryReadLock refuses it.
	mm.WriteLock()
	tx = mm.Tree.Begin()
	tx.Remove(v)
	tx.Detach()
	mm.testVMALockRefused = func() {
		// The writer publishes, waits a grace period and frees v.
		tx.Commit()
		mm.WriteUnlock()
		mm.RCU.Synchronize()
		v.Poison()
	}

	ctx := &Context{Reader: mm.RCU.Register(), Counters: new(Counters)}
	if out := mm.Handle(ctx, testBase, FlagWrite); out != SegvMapErr {
		t.Fatalf("fault on the removed VMA: got %v, want %v", out, SegvMapErr)
	}
	if got := ctx.Counters.VMALockMiss.Load(); got != 1 {
		t.Errorf("vma_lock_miss = %d, want 1 (the VMA was detached when the lock was refused)", got)
	}
	mm.RCU.Close()
}
