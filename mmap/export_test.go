package mmap

import "github.com/vmsim/vmsim/vma"

// VMAState is the hidden state of one VMA that decides merging but that
// /proc/pid/maps does not show, exported for the differential tests
// (model_rapid_test.go, kernel_linux_test.go), which compare it with the
// reference model's VMA.Flags and AnonID and with the VmFlags of
// /proc/self/smaps. A plain value.
type VMAState struct {
	Start, End uint64
	Account    bool   // VM_ACCOUNT ("ac")
	NoReserve  bool   // VM_NORESERVE ("nr")
	SeqRead    bool   // VM_SEQ_READ ("sr")
	RandRead   bool   // VM_RAND_READ ("rr")
	GrowsDown  bool   // VM_GROWSDOWN ("gd")
	Sync       bool   // VM_SYNC ("sf")
	NoHuge     bool   // VM_NOHUGEPAGE ("nh")
	Huge       bool   // VM_HUGEPAGE ("hg")
	DontCopy   bool   // VM_DONTCOPY ("dc")
	DontDump   bool   // VM_DONTDUMP ("dd")
	WipeOnFork bool   // VM_WIPEONFORK ("wf")
	Locked     bool   // VM_LOCKED ("lo")
	VMShared   bool   // VM_SHARED ("sh")
	MayShare   bool   // VM_MAYSHARE ("ms")
	MayWrite   bool   // VM_MAYWRITE ("mw")
	Anon       uint64 // anon_vma identity; 0 = none
}

// VMAStates returns the hidden state of every VMA in address order. It
// takes the mmap read lock, like Mappings.
func (as *AddressSpace) VMAStates() []VMAState {
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	var out []VMAState
	for _, v := range as.mm.Tree.Snapshot().VMAs() {
		out = append(out, VMAState{
			Start: v.Start, End: v.End,
			Account:    v.Flags&flagAccount != 0,
			NoReserve:  v.Flags&vma.FlagNoReserve != 0,
			SeqRead:    v.Flags&vma.FlagSeqRead != 0,
			RandRead:   v.Flags&vma.FlagRandRead != 0,
			GrowsDown:  v.Flags&vma.FlagGrowsDown != 0,
			Sync:       v.Flags&flagSync != 0,
			NoHuge:     v.Flags&flagNoHuge != 0,
			Huge:       v.Flags&flagHugepage != 0,
			DontCopy:   v.Flags&flagDontCopy != 0,
			DontDump:   v.Flags&flagDontDump != 0,
			WipeOnFork: v.Flags&flagWipeOnFork != 0,
			Locked:     v.Flags&flagLocked != 0,
			VMShared:   v.Flags&vma.FlagShared != 0,
			MayShare:   v.Flags&flagMayShare != 0,
			MayWrite:   v.Flags&vma.FlagMayWrite != 0,
			Anon:       v.AnonVMA(),
		})
	}
	return out
}

// LockedBytes returns mm->locked_vm in bytes (/proc/pid/status VmLck),
// for the tests of MAP_LOCKED. It takes the mmap read lock.
func (as *AddressSpace) LockedBytes() uint64 { return as.lockedBytes() }

// TakeFrameRef takes a reference on the frame mapped at addr (a leak,
// for the tests of Check) and returns a func that drops it again.
func (as *AddressSpace) TakeFrameRef(addr uint64) func() {
	p := as.mm.Table.Lookup(addr).PFN()
	as.frames.Get(p)
	return func() { as.frames.Put(p) }
}

// SetForkHook makes every Fork call h with the start of each parent VMA
// in the window of the Linux 6.4 fork race (after the child's VMA took
// its anon_vma state, before the page tables are copied), until the
// returned func restores the previous hook.
func SetForkHook(h func(start uint64)) (restore func()) {
	old := testHookForkVMA
	testHookForkVMA = func(v *vma.VMA) { h(v.Start) }
	return func() { testHookForkVMA = old }
}
