package mmap_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vmsim/vmsim/internal/model"
	"github.com/vmsim/vmsim/mmap"
)

// simModel runs the same calls on an AddressSpace and on the reference
// model (internal/model) and compares them after every call: the result
// and errno, the layout (Mappings against the model's VMAs), the hidden
// state that decides merging (VMAStates against VMA.Flags and AnonID),
// the contents of sampled pages, and Check.
type simModel struct {
	as    *mmap.AddressSpace
	th    *mmap.Thread
	m     *model.Model
	files []diffFile
	hist  []string
	calls int
	// ok and failed count the calls by kind and outcome, for the log.
	ok, failed [numOpKinds]int
	lastErr    error // the simulator's error for the last call
	// stackTried counts accesses that landed in the gap below a
	// MAP_GROWSDOWN VMA (growsInto), stackGrown those that grew it;
	// growAt is the address of the last call's, if any.
	stackTried, stackGrown int
	growAt                 *uint64
	// lockedOK and lockedFailed count the mmap calls with MAP_LOCKED by
	// outcome (EPERM and EAGAIN among the failures).
	lockedOK, lockedFailed, lockedPerm, lockedAgain int
	// forks counts the forks of the process's family (TestModelRapid).
	forks int
}

// diffFile is one open file description in both worlds.
type diffFile struct {
	sim *mmap.File
	mod *model.File
}

// newDiffFiles returns the opens the differential tests map: file 1 (8
// pages and 100 bytes, so its last page is partial) read-write and
// read-only, and file 2 (4 pages) read-write. The model assumes files
// start zero-filled, so contents are zero.
func newDiffFiles() []diffFile {
	f1 := mmap.NewFile("/f1", make([]byte, 8*pg+100), mmap.FileOptions{})
	f2 := mmap.NewFile("/f2", make([]byte, 4*pg), mmap.FileOptions{})
	return []diffFile{
		{f1, &model.File{ID: 1, Writable: true, Size: 8*pg + 100}},
		{f1.OpenReadOnly(), &model.File{ID: 1, Writable: false, Size: 8*pg + 100}},
		{f2, &model.File{ID: 2, Writable: true, Size: 4 * pg}},
	}
}

// diffConfig is the shared configuration of both sides.
type diffConfig struct {
	policy      mmap.Policy
	mmapBase    uint64
	minAddr     uint64
	maxMapCount int
	stackLimit  uint64
	// memlockLimit is RLIMIT_MEMLOCK (Config.MemlockLimit: 0 unlimited,
	// mmap.MemlockNone none and no CAP_IPC_LOCK).
	memlockLimit int64
}

func newSimModel(c diffConfig) (*simModel, error) {
	as, err := mmap.New(mmap.Config{Policy: c.policy, MmapBase: c.mmapBase, MinAddr: c.minAddr, MaxMapCount: c.maxMapCount,
		StackLimit: c.stackLimit, MemlockLimit: c.memlockLimit})
	if err != nil {
		return nil, err
	}
	return &simModel{
		as: as,
		th: as.NewThread(),
		m: model.New(model.Config{MmapBase: c.mmapBase, MinAddr: c.minAddr, MaxMapCount: c.maxMapCount,
			StackLimit: c.stackLimit, MemlockLimit: c.memlockLimit}),
		files: newDiffFiles(),
	}, nil
}

// stackStarts returns the starts of the simulator's MAP_GROWSDOWN VMAs
// (genCfg.stacks).
func (p *simModel) stackStarts() []uint64 { return growsDownStarts(p.as) }

func growsDownStarts(as *mmap.AddressSpace) []uint64 {
	var out []uint64
	for _, h := range as.VMAStates() {
		if h.GrowsDown {
			out = append(out, h.Start)
		}
	}
	return out
}

func (p *simModel) close() {
	p.th.Close()
	p.as.Close()
}

// fork forks both sides: the simulator's address space (by its thread)
// and the model. The child shares the files.
func (p *simModel) fork() (*simModel, error) {
	c, err := p.th.Fork()
	if err != nil {
		return nil, err
	}
	p.hist = append(p.hist, "fork")
	return &simModel{as: c, th: c.NewThread(), m: p.m.Fork(), files: p.files,
		hist: append(slices.Clone(p.hist), "--- the child's calls:")}, nil
}

// sameErrno reports whether the simulator's error is the model's errno.
func sameErrno(err error, e model.Errno) bool {
	if e == 0 {
		return err == nil
	}
	return errors.Is(err, mmap.Errno(e))
}

func errName(err error) string {
	if err == nil {
		return "OK"
	}
	var e mmap.Errno
	if errors.As(err, &e) {
		return model.Errno(e).Name()
	}
	return err.Error()
}

// accessErrno turns a Thread access error into the model's encoding of
// signals: EFAULT = SEGV_MAPERR, EACCES = SEGV_ACCERR, EIO = SIGBUS.
func accessErrno(err error) model.Errno {
	if err == nil {
		return 0
	}
	var se *mmap.SignalError
	if errors.As(err, &se) {
		switch {
		case se.Signo == mmap.SIGSEGV && se.Code == mmap.SegvMaperr:
			return model.EFAULT
		case se.Signo == mmap.SIGSEGV && se.Code == mmap.SegvAccerr:
			return model.EACCES
		case se.Signo == mmap.SIGBUS && se.Code == mmap.BusAdrerr:
			return model.EIO
		}
	}
	return -1
}

// growsInto reports whether an access at addr would fault in the gap
// below a MAP_GROWSDOWN VMA, which Linux, the model and the simulator
// answer by trying to grow the stack (mm/mmap.c: expand_stack_locked()).
// The differential tests use it only to count such accesses.
func growsInto(vs []model.VMA, addr uint64) bool {
	for _, v := range vs {
		if v.End > addr {
			return v.Start > addr && v.Flags&model.VMGrowsDown != 0
		}
	}
	return false
}

// do runs o on both sides and returns a description of the first
// difference, or nil.
func (p *simModel) do(o op) error {
	p.lastErr, p.growAt = nil, nil
	err := p.do1(o)
	if p.lastErr == nil {
		p.ok[o.kind]++
	} else {
		p.failed[o.kind]++
	}
	if o.kind == opMmap && o.flags&model.MapLocked != 0 {
		switch {
		case p.lastErr == nil:
			p.lockedOK++
		case errors.Is(p.lastErr, mmap.EPERM):
			p.lockedPerm++
		case errors.Is(p.lastErr, mmap.EAGAIN):
			p.lockedAgain++
		default:
			p.lockedFailed++
		}
	}
	if p.growAt != nil {
		p.stackTried++
		for _, v := range p.m.VMAs() {
			if v.Start <= *p.growAt && *p.growAt < v.End {
				p.stackGrown++
				p.hist[len(p.hist)-1] += " (stack grown)"
			}
		}
	}
	return err
}

// countGrowth notes that the call accesses addr; do counts it if addr
// lies in the gap below a stack, where the access tries to grow it.
func (p *simModel) countGrowth(addr uint64) {
	if growsInto(p.m.VMAs(), addr) {
		p.growAt = &addr
	}
}

func (p *simModel) do1(o op) error {
	p.calls++
	p.hist = append(p.hist, o.String())
	switch o.kind {
	case opMmap:
		var sf *mmap.File
		var mf *model.File
		if o.file >= 0 {
			sf, mf = p.files[o.file].sim, p.files[o.file].mod
		}
		sr, serr := p.as.Mmap(o.addr, o.length, mmap.Prot(o.prot), mmap.Flag(o.flags), sf, o.off)
		p.lastErr = serr
		mr, merr := p.m.Mmap(o.addr, o.length, o.prot, o.flags, mf, o.off)
		return resultDiff(sr, serr, mr, merr)
	case opMunmap:
		p.lastErr = p.as.Munmap(o.addr, o.length)
		return errnoDiff(p.lastErr, p.m.Munmap(o.addr, o.length))
	case opMprotect:
		p.lastErr = p.as.Mprotect(o.addr, o.length, mmap.Prot(o.prot))
		return errnoDiff(p.lastErr, p.m.Mprotect(o.addr, o.length, o.prot))
	case opMremap:
		sr, serr := p.as.Mremap(o.addr, o.length, o.newLen, mmap.MremapFlag(o.flags), o.newAddr)
		p.lastErr = serr
		mr, merr := p.m.Mremap(o.addr, o.length, o.newLen, o.flags, o.newAddr)
		return resultDiff(sr, serr, mr, merr)
	case opMadvise:
		p.lastErr = p.as.Madvise(o.addr, o.length, mmap.Advice(o.advice))
		return errnoDiff(p.lastErr, p.m.Madvise(o.addr, o.length, o.advice))
	case opStore:
		p.countGrowth(o.addr)
		serr := p.th.Write(o.addr, []byte{o.val})
		p.lastErr = serr
		merr := p.m.Store(o.addr, o.val)
		if se := accessErrno(serr); se != merr {
			return fmt.Errorf("store %#x: simulator %v, model %s", o.addr, serr, merr.Name())
		}
		return nil
	case opLoad:
		p.countGrowth(o.addr)
		return p.load(o.addr)
	case opFault:
		p.countGrowth(o.addr)
		return p.fault(o.addr, o.flags&1 != 0)
	}
	return nil
}

func pageAlign(n uint64) uint64 { return (n + pg - 1) &^ (pg - 1) }

func resultDiff(sr uint64, serr error, mr uint64, merr model.Errno) error {
	if !sameErrno(serr, merr) {
		return fmt.Errorf("errno: simulator %s, model %s", errName(serr), merr.Name())
	}
	if merr == 0 && sr != mr {
		return fmt.Errorf("result: simulator %#x, model %#x", sr, mr)
	}
	return nil
}

func errnoDiff(serr error, merr model.Errno) error {
	if !sameErrno(serr, merr) {
		return fmt.Errorf("errno: simulator %s, model %s", errName(serr), merr.Name())
	}
	return nil
}

// fault compares Thread.Fault with the model's Touch. Touch reports
// nothing, so the signal expected is what the model's Load (read) or
// Store (write, on a copy of the model) would raise.
func (p *simModel) fault(a uint64, write bool) error {
	var want model.Errno
	if write {
		want = p.m.Clone().Store(a, 0)
	} else {
		_, want = p.peek(a)
	}
	serr := p.th.Fault(a, write)
	p.lastErr = serr
	p.m.Touch(a, write)
	if se := accessErrno(serr); se != want {
		return fmt.Errorf("fault %#x write=%v: simulator %v, model %s", a, write, serr, want.Name())
	}
	return nil
}

// peek returns what a read of addr sees in the model, granting the
// implicit read permission of x86 (see load).
func (p *simModel) peek(a uint64) (byte, model.Errno) {
	v, err := p.m.Load(a)
	if err != model.EACCES {
		return v, err
	}
	for _, vm := range p.m.VMAs() {
		if vm.Start <= a && a < vm.End && vm.Prot&(model.ProtWrite|model.ProtExec) != 0 {
			// The whole VMA, so that no split can fail at the map-count
			// limit.
			c := p.m.Clone()
			if e := c.Mprotect(vm.Start, vm.End-vm.Start, vm.Prot|model.ProtRead); e != 0 {
				return 0, e
			}
			return c.Load(a)
		}
	}
	return v, err
}

// load compares one byte.
func (p *simModel) load(a uint64) error {
	var b [1]byte
	serr := p.th.Read(a, b[:])
	p.lastErr = serr
	// The model's Load demands PROT_READ; x86 also lets PROT_WRITE or
	// PROT_EXEC pages be read (internal/model/doc.go), and so does the
	// simulator (arch/x86/mm/fault.c: access_error()): peek asks a copy
	// of the model with PROT_READ added.
	mv, merr := p.peek(a)
	se := accessErrno(serr)
	if se != merr {
		return fmt.Errorf("load %#x: simulator %v, model %s", a, serr, merr.Name())
	}
	if merr == 0 && b[0] != mv {
		return fmt.Errorf("load %#x: simulator %d, model %d", a, b[0], mv)
	}
	return nil
}

// compare checks the layout, the hidden state and the invariants.
func (p *simModel) compare() error {
	sms := p.as.Mappings()
	vs := p.m.VMAs()
	if len(sms) != len(vs) {
		return fmt.Errorf("layout: simulator has %d VMAs, model %d", len(sms), len(vs))
	}
	for i, v := range vs {
		s := sms[i]
		wantOff, wantName := uint64(0), ""
		switch {
		case v.File != nil:
			wantOff, wantName = v.Pgoff*pg, p.fileName(v.File)
		case v.Shm != 0:
			wantOff, wantName = v.Pgoff*pg, "/dev/zero (deleted)"
		}
		if s.Start != v.Start || s.End != v.End || uint32(s.Prot) != v.Prot || s.Shared != v.Shared ||
			s.Offset != wantOff || s.Name != wantName {
			return fmt.Errorf("layout: VMA %d: simulator %#x-%#x %v shared=%v off=%#x %q, model %v", i,
				s.Start, s.End, s.Prot, s.Shared, s.Offset, s.Name, v)
		}
	}
	if err := p.compareHidden(vs); err != nil {
		return err
	}
	if s, m := p.as.LockedBytes(), p.m.LockedPages()*pg; s != m {
		return fmt.Errorf("mm->locked_vm: simulator %#x bytes, model %#x", s, m)
	}
	if err := p.as.Check(); err != nil {
		return fmt.Errorf("Check: %w", err)
	}
	return nil
}

func (p *simModel) fileName(f *model.File) string {
	for _, df := range p.files {
		if df.mod.ID == f.ID {
			return df.sim.Name()
		}
	}
	return "?"
}

// compareHidden compares the hidden vm_flags and the anon_vma identities
// (as a bijection: the numbers differ, the sharing must not).
func (p *simModel) compareHidden(vs []model.VMA) error {
	hs := p.as.VMAStates()
	if len(hs) != len(vs) {
		return fmt.Errorf("hidden: simulator has %d VMAs, model %d", len(hs), len(vs))
	}
	simToMod := map[uint64]int{}
	modToSim := map[int]uint64{}
	for i, v := range vs {
		h := hs[i]
		for _, f := range []struct {
			name      string
			sim, want bool
		}{
			{"VM_ACCOUNT", h.Account, v.Flags&model.VMAccount != 0},
			{"VM_NORESERVE", h.NoReserve, v.Flags&model.VMNoReserve != 0},
			{"VM_SEQ_READ", h.SeqRead, v.Flags&model.VMSeqRead != 0},
			{"VM_RAND_READ", h.RandRead, v.Flags&model.VMRandRead != 0},
			{"VM_GROWSDOWN", h.GrowsDown, v.Flags&model.VMGrowsDown != 0},
			{"VM_SYNC", h.Sync, v.Flags&model.VMSync != 0},
			{"VM_NOHUGEPAGE", h.NoHuge, v.Flags&model.VMNoHuge != 0},
			{"VM_HUGEPAGE", h.Huge, v.Flags&model.VMHugepage != 0},
			{"VM_DONTCOPY", h.DontCopy, v.Flags&model.VMDontCopy != 0},
			{"VM_DONTDUMP", h.DontDump, v.Flags&model.VMDontDump != 0},
			{"VM_WIPEONFORK", h.WipeOnFork, v.Flags&model.VMWipeOnFork != 0},
			{"VM_LOCKED", h.Locked, v.Flags&model.VMLocked != 0},
			{"VM_SHARED", h.VMShared, v.VMShared()},
			{"VM_MAYSHARE", h.MayShare, v.Shared},
			{"VM_MAYWRITE", h.MayWrite, v.MayWrite()},
			{"anon_vma", h.Anon != 0, v.AnonID != 0},
		} {
			if f.sim != f.want {
				return fmt.Errorf("hidden: VMA %d %v: %s simulator %v, model %v", i, v, f.name, f.sim, f.want)
			}
		}
		if v.AnonID == 0 {
			continue
		}
		if m, ok := simToMod[h.Anon]; ok && m != v.AnonID {
			return fmt.Errorf("hidden: VMA %d %v: shares its anon_vma in the simulator, not in the model", i, v)
		}
		if s, ok := modToSim[v.AnonID]; ok && s != h.Anon {
			return fmt.Errorf("hidden: VMA %d %v: shares its anon_vma in the model, not in the simulator", i, v)
		}
		simToMod[h.Anon], modToSim[v.AnonID] = v.AnonID, h.Anon
	}
	return nil
}

// counts formats the calls made by kind and outcome.
func (p *simModel) counts() string {
	var b strings.Builder
	for k := range numOpKinds {
		fmt.Fprintf(&b, "%s %d ok/%d failed; ", opNames[k], p.ok[k], p.failed[k])
	}
	fmt.Fprintf(&b, "accesses below a stack: %d, of which grew it: %d; ", p.stackTried, p.stackGrown)
	fmt.Fprintf(&b, "MAP_LOCKED mmaps: %d ok, %d EPERM, %d EAGAIN, %d other errors",
		p.lockedOK, p.lockedPerm, p.lockedAgain, p.lockedFailed)
	return b.String()
}

// report formats the recent history and both layouts for a failure.
func (p *simModel) report() string {
	var b strings.Builder
	start := max(0, len(p.hist)-30)
	fmt.Fprintf(&b, "after call #%d; last calls:\n", p.calls)
	for _, h := range p.hist[start:] {
		fmt.Fprintf(&b, "  %s\n", h)
	}
	b.WriteString("simulator:\n")
	for _, m := range p.as.Mappings() {
		fmt.Fprintf(&b, "  %#x-%#x %v shared=%v off=%#x %s\n", m.Start, m.End, m.Prot, m.Shared, m.Offset, m.Name)
	}
	for _, h := range p.as.VMAStates() {
		fmt.Fprintf(&b, "  %+v\n", h)
	}
	b.WriteString("model:\n")
	for _, v := range p.m.VMAs() {
		fmt.Fprintf(&b, "  %v\n", v)
	}
	return b.String()
}

// TestModelDirected runs fixed call sequences through the same comparison
// as TestModelRapid, for rules random sequences rarely reach: each needs
// several calls to line up. After every call the result, layout, hidden
// state and Check must agree; at the end every page named is loaded at
// every offset of pageOffsets.
func TestModelDirected(t *testing.T) {
	const (
		base  uint64 = 1 << 30
		rwP          = uint32(mmap.ProtRead | mmap.ProtWrite)
		anonP        = uint32(mmap.MapPrivate | mmap.MapAnonymous)
		fixP         = anonP | uint32(mmap.MapFixed)
		lck          = uint32(mmap.MapLocked)
		x            = mmap.TaskSize - 128<<20 - pg // where the first hint-less page goes (mmap_base - 1 page)
	)
	fileMap := func(addr uint64, flags uint32) op {
		return op{kind: opMmap, addr: addr, length: 4 * pg, prot: rwP, flags: flags | uint32(mmap.MapFixed), file: 0}
	}
	const (
		stack = base + 300*pg // a MAP_GROWSDOWN VMA's start
		guard = 256 * pg      // stack_guard_gap
		gd    = uint32(mmap.MapGrowsDown)
	)
	cases := []struct {
		name string
		cfg  diffConfig // policy is set for each run
		ops  []op
		scan []uint64 // pages loaded at the end
		// grown and refused are how many calls grew a stack and how
		// many tried and were refused.
		grown, refused int
		// errs pins the errno of some calls (by index into ops) on both
		// sides; 0 is success.
		errs map[int]mmap.Errno
		// vmas and locked, if vmas > 0, pin the VMA count and
		// mm->locked_vm (bytes) at the end.
		vmas   int
		locked uint64
	}{{
		// A store, a load and a fault below a MAP_GROWSDOWN VMA grow it
		// (expand_downwards()) until an accessible mapping lies within
		// stack_guard_gap below the new start; once that mapping is
		// PROT_NONE (not vma_is_accessible()) the growth goes on, up to
		// RLIMIT_STACK (64 pages here). A refused growth is SIGSEGV and,
		// when only the rlimit refused it, still leaves an anon_vma. A
		// PROT_NONE stack grows and then refuses the access.
		name: "stack growth: guard gap and rlimit",
		cfg:  diffConfig{stackLimit: 64 * pg},
		ops: []op{
			{kind: opMmap, addr: stack, length: 2 * pg, prot: rwP, flags: fixP | gd, file: -1},
			{kind: opStore, addr: stack - pg + 5, val: 1},
			{kind: opLoad, addr: stack - 3*pg + 100},
			{kind: opFault, addr: stack - 4*pg, flags: 1},
			{kind: opMmap, addr: stack - 300*pg, length: pg, prot: rwP, flags: fixP, file: -1},
			{kind: opFault, addr: stack - 299*pg + guard, flags: 0},      // exactly the gap: grows
			{kind: opFault, addr: stack - 299*pg + guard - pg, flags: 0}, // within it: SIGSEGV
			{kind: opStore, addr: stack - 50*pg, val: 2},
			{kind: opMprotect, addr: stack - 300*pg, length: pg, prot: uint32(mmap.ProtNone)},
			{kind: opStore, addr: stack - 62*pg, val: 3}, // 64 pages: the limit
			{kind: opStore, addr: stack - 63*pg, val: 4}, // 65 pages: SIGSEGV
			{kind: opLoad, addr: stack - 63*pg},
			{kind: opMmap, addr: base + 600*pg, length: pg, prot: uint32(mmap.ProtNone), flags: fixP | gd, file: -1},
			{kind: opLoad, addr: base + 598*pg},
			{kind: opStore, addr: base + 597*pg, val: 5},
		},
		scan:  []uint64{stack - 63*pg, stack - 62*pg, stack - 4*pg, stack - 3*pg, stack - pg, stack, base + 598*pg},
		grown: 7, refused: 4,
	}, {
		// No growth below mmap_min_addr (base + 2 pages here), and the
		// guard gap does not apply between two stacks: the upper one
		// grows right up to the lower one and does not merge with it.
		name: "stack growth: mmap_min_addr and stacks side by side",
		cfg:  diffConfig{minAddr: base + 2*pg},
		ops: []op{
			{kind: opMmap, addr: base + 2*pg, length: pg, prot: rwP, flags: fixP | gd, file: -1},
			{kind: opStore, addr: base + pg, val: 1},
			{kind: opFault, addr: base + pg, flags: 0},
			{kind: opMmap, addr: base + 10*pg, length: pg, prot: rwP, flags: fixP | gd, file: -1},
			{kind: opStore, addr: base + 4*pg, val: 2},
			{kind: opStore, addr: base + 3*pg + 7, val: 3},
			{kind: opStore, addr: base + 2*pg, val: 4},
		},
		scan:  []uint64{base + pg, base + 2*pg, base + 3*pg, base + 4*pg, base + 10*pg},
		grown: 2, refused: 2,
	}, {
		// Below a MAP_GROWSDOWN VMA at x, with v at x-3 pages: top-down
		// search finds [x-2, x) first, hits the stack guard gap and
		// searches again below x-256 pages, skipping the free range under
		// v (internal/model: unmappedAreaTopdown; the kernel agrees in
		// TestKernelStackGuardPlacement). A hint in the guard gap and an
		// mremap move take the same path.
		name: "stack guard retry",
		ops: []op{
			{kind: opMmap, addr: x - 3*pg, length: pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMmap, addr: x, length: pg, prot: rwP, flags: fixP | uint32(mmap.MapGrowsDown), file: -1},
			{kind: opMmap, length: pg, prot: rwP, flags: anonP, file: -1},
			{kind: opMmap, addr: x - 2*pg, length: 2 * pg, prot: rwP, flags: anonP, file: -1},
			{kind: opMmap, addr: base, length: pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMmap, addr: base + pg, length: pg, prot: uint32(mmap.ProtRead), flags: fixP, file: -1},
			{kind: opMremap, addr: base, length: pg, newLen: 2 * pg, flags: uint32(mmap.MremapMaymove)},
		},
	}, {
		// MAP_POPULATE of a private writable file mapping breaks
		// copy-on-write (populate_vma_page_range() with FOLL_WRITE): the
		// file's later writes are not seen through it, while they are
		// through an unpopulated one and through one whose single page
		// was write-faulted by Thread.Fault (do_cow_fault()) only there,
		// nor through one mapped with MAP_POPULATE|MAP_NONBLOCK, which
		// do_mmap() does not populate. File 1 has 8 pages and 100 bytes,
		// so all four mapped pages lie within it.
		name: "populate and write faults break COW",
		ops: []op{
			fileMap(base, uint32(mmap.MapShared)),
			{kind: opStore, addr: base + 5, val: 1},
			fileMap(base+16*pg, uint32(mmap.MapPrivate|mmap.MapPopulate)),
			fileMap(base+32*pg, uint32(mmap.MapPrivate)),
			fileMap(base+48*pg, uint32(mmap.MapPrivate)),
			fileMap(base+64*pg, uint32(mmap.MapPrivate|mmap.MapPopulate|mmap.MapNonBlock)),
			{kind: opFault, addr: base + 49*pg + 5, flags: 1},
			{kind: opStore, addr: base + 5, val: 2},
			{kind: opStore, addr: base + pg + 5, val: 3},
			{kind: opStore, addr: base + 2*pg + 5, val: 4},
		},
		scan: []uint64{base, base + pg, base + 2*pg, base + 3*pg, base + 16*pg, base + 17*pg, base + 18*pg, base + 19*pg,
			base + 32*pg, base + 33*pg, base + 48*pg, base + 49*pg, base + 50*pg, base + 64*pg, base + 65*pg},
	}, {
		// The VMA-flag advices split like mprotect, merge back when the
		// flag goes, keep a flagged VMA from merging with a new neighbour
		// (and mprotect keeps the flag), apply across a hole before
		// returning ENOMEM, and refuse MADV_WIPEONFORK on shared
		// anonymous and file memory; MADV_HUGEPAGE clears MAP_STACK's
		// VM_NOHUGEPAGE.
		name: "madvise flag advices split and merge",
		ops: []op{
			{kind: opMmap, addr: base, length: 8 * pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 2*pg, length: 2 * pg, advice: model.MadvDontfork},
			{kind: opMadvise, addr: base + 2*pg, length: 2 * pg, advice: model.MadvDofork},
			{kind: opMadvise, addr: base + pg, length: pg, advice: model.MadvDontdump},
			{kind: opMadvise, addr: base + 5*pg, length: pg, advice: model.MadvWipeonfork},
			{kind: opMadvise, addr: base + 6*pg, length: 2 * pg, advice: model.MadvHugepage},
			{kind: opMadvise, addr: base + 7*pg, length: pg, advice: model.MadvNohugepage},
			{kind: opMmap, addr: base + 8*pg, length: 2 * pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMprotect, addr: base, length: 10 * pg, prot: uint32(mmap.ProtRead)},
			{kind: opMadvise, addr: base + pg, length: pg, advice: model.MadvDodump},
			{kind: opMadvise, addr: base + 5*pg, length: pg, advice: model.MadvKeeponfork},
			{kind: opMadvise, addr: base + 6*pg, length: 2 * pg, advice: model.MadvNohugepage}, // 11: [6,8) merge; [8,10) stays apart
			{kind: opMmap, addr: base + 12*pg, length: 2 * pg, prot: rwP, flags: uint32(mmap.MapShared | mmap.MapAnonymous | mmap.MapFixed), file: -1},
			{kind: opMadvise, addr: base + 12*pg, length: pg, advice: model.MadvWipeonfork}, // 13
			fileMap(base+16*pg, uint32(mmap.MapPrivate)),
			{kind: opMadvise, addr: base + 16*pg, length: pg, advice: model.MadvWipeonfork}, // 15
			{kind: opMadvise, addr: base, length: 20 * pg, advice: model.MadvDontfork},      // 16: the hole at 10-12 and 14-16
			{kind: opMmap, addr: base + 24*pg, length: 2 * pg, prot: rwP, flags: fixP | uint32(mmap.MapStack), file: -1},
			{kind: opMadvise, addr: base + 25*pg, length: pg, advice: model.MadvHugepage},
			{kind: opMadvise, addr: base + 25*pg, length: pg, advice: model.MadvNohugepage}, // merges back
			{kind: opMadvise, addr: base + 24*pg, length: 2 * pg, advice: model.MadvCold},
			{kind: opMadvise, addr: base + 24*pg, length: 2 * pg, advice: model.MadvPageout},
			{kind: opMadvise, addr: base + 24*pg, length: 2 * pg, advice: 12}, // MADV_MERGEABLE: not implemented
		},
		errs: map[int]mmap.Errno{1: 0, 2: 0, 11: 0, 13: mmap.EINVAL, 15: mmap.EINVAL, 16: mmap.ENOMEM, 18: 0, 19: 0, 20: 0, 21: 0, 22: mmap.EINVAL},
	}, {
		// A split at the map-count limit fails with EAGAIN, after the
		// first of the two splits, as in mprotect.
		name: "madvise flag advice at the map-count limit",
		cfg:  diffConfig{maxMapCount: 2},
		ops: []op{
			{kind: opMmap, addr: base, length: 8 * pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 2*pg, length: 2 * pg, advice: model.MadvDontdump},
			{kind: opMadvise, addr: base + 2*pg, length: 6 * pg, advice: model.MadvDodump},
			{kind: opMadvise, addr: base + 2*pg, length: 6 * pg, advice: model.MadvHugepage},
		},
		errs: map[int]mmap.Errno{1: mmap.EAGAIN, 2: 0, 3: 0},
	}, {
		// MADV_POPULATE_WRITE breaks copy-on-write of a private file
		// mapping (the file's later writes are not seen through it);
		// MADV_POPULATE_READ does not. Both stop at the first failure:
		// EFAULT at the page beyond the end of file 2 (4 pages), ENOMEM
		// at a hole (without skipping it), EINVAL on a mapping without
		// PROT_READ (even PROT_WRITE-only, readable on x86) or, for
		// writing, PROT_WRITE. A populated private anonymous mapping
		// has an anon_vma, which then decides merges.
		name: "madvise populate",
		ops: []op{
			fileMap(base, uint32(mmap.MapShared)),
			fileMap(base+16*pg, uint32(mmap.MapPrivate)),
			{kind: opMadvise, addr: base + 16*pg, length: 2 * pg, advice: model.MadvPopulateWrite}, // 2
			fileMap(base+32*pg, uint32(mmap.MapPrivate)),
			{kind: opMadvise, addr: base + 32*pg, length: 4 * pg, advice: model.MadvPopulateRead}, // 4
			{kind: opStore, addr: base + 5, val: 1},
			{kind: opStore, addr: base + 2*pg + 5, val: 2},
			{kind: opMmap, addr: base + 48*pg, length: 6 * pg, prot: rwP, flags: uint32(mmap.MapPrivate | mmap.MapFixed), file: 2},
			{kind: opMadvise, addr: base + 48*pg, length: 6 * pg, advice: model.MadvPopulateWrite}, // 8: EFAULT at page 4
			{kind: opMadvise, addr: base + 64*pg, length: 8 * pg, advice: model.MadvPopulateWrite}, // 9: nothing there
			{kind: opMmap, addr: base + 64*pg, length: 2 * pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMmap, addr: base + 67*pg, length: 2 * pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 64*pg, length: 5 * pg, advice: model.MadvPopulateWrite}, // 12: hole at 66
			{kind: opMmap, addr: base + 66*pg, length: pg, prot: rwP, flags: fixP, file: -1},       // merges with both? anon_vma decides
			{kind: opMmap, addr: base + 80*pg, length: pg, prot: uint32(mmap.ProtWrite), flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 80*pg, length: pg, advice: model.MadvPopulateRead},  // 15
			{kind: opMadvise, addr: base + 80*pg, length: pg, advice: model.MadvPopulateWrite}, // 16
			{kind: opMmap, addr: base + 82*pg, length: pg, prot: uint32(mmap.ProtRead), flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 82*pg, length: pg, advice: model.MadvPopulateWrite}, // 18
			{kind: opMadvise, addr: base + 82*pg, length: pg, advice: model.MadvPopulateRead},  // 19
		},
		scan: []uint64{base + 16*pg, base + 17*pg, base + 18*pg, base + 32*pg, base + 34*pg, base + 48*pg, base + 51*pg,
			base + 64*pg, base + 67*pg, base + 68*pg},
		errs: map[int]mmap.Errno{2: 0, 4: 0, 8: mmap.EFAULT, 9: mmap.ENOMEM, 12: mmap.ENOMEM, 15: mmap.EINVAL, 16: 0, 18: mmap.EINVAL, 19: 0},
	}, {
		// RLIMIT_MEMLOCK of 4 pages counts the locked pages of every
		// mapping (mm->locked_vm): a MAP_LOCKED past it is EAGAIN, even a
		// MAP_FIXED over locked pages (mlock_future_ok() counts them
		// before they are unmapped); munmap releases them; an mremap
		// growth of a locked VMA is checked (EAGAIN) and counted. Locked
		// VMAs merge with each other and not with unlocked ones;
		// mprotect keeps VM_LOCKED. madvise DONTNEED, FREE, COLD and
		// PAGEOUT are EINVAL on locked memory, after advising the
		// unlocked VMA before it.
		name: "MAP_LOCKED: memlock limit, merging, madvise",
		cfg:  diffConfig{memlockLimit: 4 * pg},
		ops: []op{
			{kind: opMmap, addr: base, length: 2 * pg, prot: rwP, flags: fixP | lck, file: -1},
			{kind: opMmap, addr: base + 2*pg, length: 2 * pg, prot: rwP, flags: fixP | lck, file: -1}, // 1: merges, 4 pages locked
			{kind: opMmap, addr: base + 8*pg, length: pg, prot: rwP, flags: fixP | lck, file: -1},     // 2: EAGAIN
			{kind: opMmap, addr: base, length: pg, prot: rwP, flags: fixP | lck, file: -1},            // 3: EAGAIN, though it replaces a locked page
			{kind: opMmap, addr: base + 4*pg, length: 2 * pg, prot: rwP, flags: fixP, file: -1},       // 4: not merged
			{kind: opMunmap, addr: base + 3*pg, length: pg},
			{kind: opMmap, addr: base + 8*pg, length: pg, prot: rwP, flags: fixP | lck, file: -1}, // 6: 4 pages
			{kind: opMremap, addr: base, length: 3 * pg, newLen: 4 * pg},                          // 7: EAGAIN (5 pages)
			{kind: opMunmap, addr: base + 8*pg, length: pg},
			{kind: opMremap, addr: base, length: 3 * pg, newLen: 4 * pg}, // 9: grows in place, 4 pages
			{kind: opMprotect, addr: base + pg, length: pg, prot: uint32(mmap.ProtRead)},
			{kind: opMprotect, addr: base + pg, length: pg, prot: rwP}, // merges back, still locked
			{kind: opStore, addr: base + 5*pg + 1, val: 9},
			{kind: opMadvise, addr: base + 4*pg, length: 2 * pg, advice: model.MadvDontneed}, // 13: unlocked: zaps
			{kind: opMadvise, addr: base, length: 2 * pg, advice: model.MadvDontneed},        // 14
			{kind: opMadvise, addr: base, length: pg, advice: model.MadvFree},                // 15
			{kind: opMadvise, addr: base, length: pg, advice: model.MadvCold},                // 16
			{kind: opMadvise, addr: base, length: pg, advice: model.MadvPageout},             // 17
			{kind: opMadvise, addr: base, length: pg, advice: model.MadvWillneed},            // 18
			{kind: opStore, addr: base + 4*pg + 1, val: 7},
			{kind: opMmap, addr: base + 6*pg, length: pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMadvise, addr: base + 4*pg, length: pg, advice: model.MadvDontneed}, // 21
		},
		scan: []uint64{base, base + 3*pg, base + 4*pg, base + 5*pg},
		errs: map[int]mmap.Errno{1: 0, 2: mmap.EAGAIN, 3: mmap.EAGAIN, 4: 0, 6: 0, 7: mmap.EAGAIN, 9: 0,
			13: 0, 14: mmap.EINVAL, 15: mmap.EINVAL, 16: mmap.EINVAL, 17: mmap.EINVAL, 18: 0, 21: 0},
		vmas: 2, locked: 4 * pg,
	}, {
		// Without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0, MAP_LOCKED is
		// EPERM (can_do_mlock()), checked after placement: a
		// MAP_FIXED_NOREPLACE collision is EEXIST first.
		name: "MAP_LOCKED: no right to lock",
		cfg:  diffConfig{memlockLimit: mmap.MemlockNone},
		ops: []op{
			{kind: opMmap, addr: base, length: pg, prot: rwP, flags: fixP, file: -1},
			{kind: opMmap, addr: base, length: pg, prot: rwP, flags: anonP | lck, file: -1},
			{kind: opMmap, addr: base, length: pg, prot: rwP, flags: anonP | lck | uint32(mmap.MapFixedNoreplace), file: -1},
		},
		errs: map[int]mmap.Errno{1: mmap.EPERM, 2: mmap.EEXIST},
		vmas: 1,
	}, {
		// A locked mapping is populated after mmap even with
		// MAP_NONBLOCK, so a private writable file mapping has its own
		// copies and no longer sees the file's writes; a locked private
		// read-only one is populated by reads only (still sees them)
		// until mprotect makes part of it writable, which populates that
		// part with write faults (mprotect_fixup()); an mremap that
		// grows a locked mapping populates the growth (do_mremap()).
		// MREMAP_DONTUNMAP clears VM_LOCKED on the old VMA and leaves
		// mm->locked_vm counting it (dontunmap_complete()).
		name: "MAP_LOCKED: populate",
		ops: []op{
			fileMap(base, uint32(mmap.MapShared)),
			{kind: opStore, addr: base + 5, val: 1},
			fileMap(base+16*pg, uint32(mmap.MapPrivate|mmap.MapLocked|mmap.MapNonBlock)),
			{kind: opMmap, addr: base + 32*pg, length: 4 * pg, prot: uint32(mmap.ProtRead), flags: uint32(mmap.MapPrivate|mmap.MapFixed) | lck, file: 0},
			{kind: opMprotect, addr: base + 33*pg, length: pg, prot: rwP},
			{kind: opStore, addr: base + 5, val: 2},
			{kind: opStore, addr: base + pg + 5, val: 3},
			{kind: opMmap, addr: base + 64*pg, length: 4 * pg, prot: rwP, flags: uint32(mmap.MapShared | mmap.MapFixed), file: 2},
			{kind: opMmap, addr: base + 80*pg, length: 2 * pg, prot: rwP, flags: uint32(mmap.MapPrivate|mmap.MapFixed) | lck, file: 2},
			{kind: opMremap, addr: base + 80*pg, length: 2 * pg, newLen: 4 * pg}, // 9: grows in place
			{kind: opStore, addr: base + 66*pg + 5, val: 4},
			{kind: opMmap, addr: base + 96*pg, length: 2 * pg, prot: rwP, flags: fixP | lck, file: -1},
			{kind: opMremap, addr: base + 96*pg, length: 2 * pg, newLen: 2 * pg, flags: uint32(mmap.MremapMaymove | mmap.MremapDontunmap | mmap.MremapFixed), newAddr: base + 112*pg},
		},
		scan: []uint64{base + 16*pg, base + 17*pg, base + 32*pg, base + 33*pg, base + 34*pg, base + 80*pg, base + 82*pg, base + 83*pg},
		errs: map[int]mmap.Errno{2: 0, 4: 0, 9: 0, 12: 0},
		vmas: 9, locked: (4 + 4 + 4 + 2 + 2) * pg, // the old VMA unlocked, still counted
	}}
	for _, pol := range diffPolicies {
		for _, c := range cases {
			t.Run(pol.String()+"/"+c.name, func(t *testing.T) {
				cfg := c.cfg
				cfg.policy = pol
				p, err := newSimModel(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer p.close()
				for i, o := range c.ops {
					if err := p.do(o); err != nil {
						t.Fatalf("%s: %v\n%s", o, err, p.report())
					}
					if want, ok := c.errs[i]; ok && !(want == 0 && p.lastErr == nil || want != 0 && errors.Is(p.lastErr, want)) {
						t.Fatalf("call %d %s: %v, want %s\n%s", i, o, p.lastErr, errName(want), p.report())
					}
					if err := p.compare(); err != nil {
						t.Fatalf("%s: %v\n%s", o, err, p.report())
					}
				}
				if c.vmas > 0 {
					if n := len(p.as.Mappings()); n != c.vmas {
						t.Errorf("%d VMAs at the end, want %d\n%s", n, c.vmas, p.report())
					}
					if l := p.as.LockedBytes(); l != c.locked {
						t.Errorf("mm->locked_vm %#x at the end, want %#x", l, c.locked)
					}
				}
				if p.stackGrown != c.grown || p.stackTried-p.stackGrown != c.refused {
					t.Errorf("%d calls grew a stack and %d were refused, want %d and %d", p.stackGrown, p.stackTried-p.stackGrown, c.grown, c.refused)
				}
				for _, a := range c.scan {
					for _, off := range append(pageOffsets, 5) {
						if err := p.load(a + off); err != nil {
							t.Fatalf("scan: %v\n%s", err, p.report())
						}
					}
				}
			})
		}
	}
}
