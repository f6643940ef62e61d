package mmap_test

import (
	"errors"
	"fmt"
	"strings"

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
}

func newSimModel(c diffConfig) (*simModel, error) {
	as, err := mmap.New(mmap.Config{Policy: c.policy, MmapBase: c.mmapBase, MinAddr: c.minAddr, MaxMapCount: c.maxMapCount})
	if err != nil {
		return nil, err
	}
	return &simModel{
		as:    as,
		th:    as.NewThread(),
		m:     model.New(model.Config{MmapBase: c.mmapBase, MinAddr: c.minAddr, MaxMapCount: c.maxMapCount}),
		files: newDiffFiles(),
	}, nil
}

func (p *simModel) close() {
	p.th.Close()
	p.as.Close()
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
// below a MAP_GROWSDOWN VMA, which Linux (and the model) answer by growing
// the stack (mm/mmap.c: expand_stack_locked()). The simulator's fault
// handler (package fault) does not grow stacks: such accesses are left
// out of the comparison — a known difference, named in the report.
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
	p.lastErr = nil
	err := p.do1(o)
	if p.lastErr == nil {
		p.ok[o.kind]++
	} else {
		p.failed[o.kind]++
	}
	return err
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
		before := p.m.VMAs()
		sr, serr := p.as.Mmap(o.addr, o.length, mmap.Prot(o.prot), mmap.Flag(o.flags), sf, o.off)
		p.lastErr = serr
		mr, merr := p.m.Mmap(o.addr, o.length, o.prot, o.flags, mf, o.off)
		if serr == nil && merr == 0 && o.flags&(model.MapFixed|model.MapFixedNoreplace) == 0 &&
			guardPlacementDiffers(before, p.m.Config(), p.roundHint(o.addr), pageAlign(o.length), sr, mr) {
			return errGuardPlacement
		}
		if err := resultDiff(sr, serr, mr, merr); err != nil {
			return err
		}
		if merr == 0 && mf != nil && o.flags&model.MapPopulate != 0 && o.flags&model.MapType == model.MapPrivate && o.prot&model.ProtWrite != 0 {
			p.populateCOW(mr, pageAlign(o.length))
		}
		return nil
	case opMunmap:
		p.lastErr = p.as.Munmap(o.addr, o.length)
		return errnoDiff(p.lastErr, p.m.Munmap(o.addr, o.length))
	case opMprotect:
		p.lastErr = p.as.Mprotect(o.addr, o.length, mmap.Prot(o.prot))
		return errnoDiff(p.lastErr, p.m.Mprotect(o.addr, o.length, o.prot))
	case opMremap:
		before := p.m.VMAs()
		sr, serr := p.as.Mremap(o.addr, o.length, o.newLen, mmap.MremapFlag(o.flags), o.newAddr)
		p.lastErr = serr
		mr, merr := p.m.Mremap(o.addr, o.length, o.newLen, o.flags, o.newAddr)
		if serr == nil && merr == 0 && o.flags&model.MremapFixed == 0 {
			hint := uint64(0)
			if o.flags&model.MremapDontunmap != 0 {
				hint = o.newAddr
			}
			if guardPlacementDiffers(before, p.m.Config(), hint, pageAlign(o.newLen), sr, mr) {
				return errGuardPlacement
			}
		}
		return resultDiff(sr, serr, mr, merr)
	case opMadvise:
		p.lastErr = p.as.Madvise(o.addr, o.length, mmap.Advice(o.advice))
		return errnoDiff(p.lastErr, p.m.Madvise(o.addr, o.length, o.advice))
	case opStore:
		if growsInto(p.m.VMAs(), o.addr) {
			p.hist[len(p.hist)-1] += " (skipped: stack growth)"
			return nil
		}
		serr := p.th.Write(o.addr, []byte{o.val})
		p.lastErr = serr
		merr := p.m.Store(o.addr, o.val)
		if se := accessErrno(serr); se != merr {
			return fmt.Errorf("store %#x: simulator %v, model %s", o.addr, serr, merr.Name())
		}
		return nil
	case opLoad:
		var b [1]byte
		p.lastErr = p.th.Read(o.addr, b[:])
		return p.load(o.addr)
	case opFault:
		return p.fault(o.addr, o.flags&1 != 0)
	}
	return nil
}

// errGuardPlacement reports the known placement difference described at
// linuxPlacement: the simulator placed a mapping where Linux does, the
// model elsewhere. The sequence cannot go on comparing layouts.
var errGuardPlacement = errors.New("placement below a MAP_GROWSDOWN guard gap: the simulator follows Linux, the model does not")

func pageAlign(n uint64) uint64 { return (n + pg - 1) &^ (pg - 1) }

// roundHint is mm/mmap.c: round_hint_to_min().
func (p *simModel) roundHint(hint uint64) uint64 {
	hint &^= pg - 1
	if min := p.m.Config().MinAddr; hint != 0 && hint < min {
		return pageAlign(min)
	}
	return hint
}

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
// Store (write, on a copy of the model) would raise. A write fault on a
// private file mapping copies the page (do_cow_fault()); Touch records
// only the anon_vma, so the copy is made in the model by storing the
// page's own byte back, as populateCOW does.
func (p *simModel) fault(a uint64, write bool) error {
	if growsInto(p.m.VMAs(), a) {
		p.hist[len(p.hist)-1] += " (skipped: stack growth)"
		return nil
	}
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
	if write && want == 0 {
		for _, v := range p.m.VMAs() {
			if v.Start <= a && a < v.End && v.File != nil && !v.VMShared() {
				b, _ := p.peek(a)
				p.m.Store(a, b)
			}
		}
	}
	return nil
}

// populateCOW makes the model copy the pages of a private writable file
// mapping just made with MAP_POPULATE, as Linux does: populate_vma_page_range()
// faults such a mapping with FOLL_WRITE, which breaks copy-on-write, so
// the mapping no longer sees later writes to the file's pages (checked on
// the real kernel by TestKernelPopulatePrivateFile). The model only gives
// the VMA its anon_vma (a known gap of internal/model); storing each page's
// own first byte back makes the same private copies.
func (p *simModel) populateCOW(addr, length uint64) {
	for a := addr; a < addr+length; a += pg {
		if v, err := p.peek(a); err == 0 {
			p.m.Store(a, v)
		}
	}
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
	vs := p.m.VMAs()
	if growsInto(vs, a) {
		return nil // see growsInto
	}
	var b [1]byte
	serr := p.th.Read(a, b[:])
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

// The model's placement around MAP_GROWSDOWN VMAs differs from Linux's:
// the model treats each VMA as occupying [vm_start_gap, vm_end) and picks
// the highest gap that fits, while Linux's unmapped_area_topdown() (mm/
// vma.c, since the 2023 "regression fix for unmapped_area{_topdown}")
// finds the highest gap ignoring guard gaps and, when the VMA after it is
// a MAP_GROWSDOWN one whose guard gap it overlaps, lowers high_limit to
// that guard gap and searches again — skipping any other gap above the
// guard gap's start, even one that ends below another VMA. The real
// kernel does so (a hint-less mmap below a MAP_GROWSDOWN VMA skips a free
// gap under a neighbour inside its guard gap: see
// TestKernelStackGuardPlacement). The simulator mirrors Linux. The
// differential tests recognise this one case with linuxPlacement and stop
// the sequence there, since the two layouts differ from then on.

// startGapOf is vm_start_gap() for a model VMA.
func startGapOf(v *model.VMA) uint64 {
	if v.Flags&model.VMGrowsDown == 0 {
		return v.Start
	}
	if v.Start < model.StackGuardGap {
		return 0
	}
	return v.Start - model.StackGuardGap
}

// nextVMA returns the first VMA ending after addr, or nil.
func nextVMA(vs []model.VMA, addr uint64) *model.VMA {
	for i := range vs {
		if vs[i].End > addr {
			return &vs[i]
		}
	}
	return nil
}

// fitGap returns the highest (top) or lowest start of a free range of
// length bytes in [low, high), ignoring guard gaps.
func fitGap(vs []model.VMA, low, high, length uint64, top bool) (uint64, bool) {
	if high < low || high-low < length {
		return 0, false
	}
	var found uint64
	ok := false
	prevEnd := uint64(0)
	for i := 0; i <= len(vs); i++ {
		gs, ge := prevEnd, uint64(1<<47)
		if i < len(vs) {
			ge = vs[i].Start
			prevEnd = vs[i].End
		}
		gs, ge = max(gs, low), min(ge, high)
		if ge <= gs || ge-gs < length {
			continue
		}
		if !top {
			return gs, true
		}
		found, ok = ge-length, true
	}
	return found, ok
}

// linuxPlacement is where Linux 6.18 puts a mapping of length bytes with
// the page-rounded hint (0 for none) given the layout vs: the hint if free
// up to the next VMA's start gap, else unmapped_area_topdown() below
// mmapBase, else unmapped_area() from TASK_UNMAPPED_BASE — each retrying
// past a MAP_GROWSDOWN VMA's guard gap as Linux does.
func linuxPlacement(vs []model.VMA, minAddr, mmapBase, hint, length uint64) (uint64, bool) {
	if length > mmap.TaskSize {
		return 0, false
	}
	if hint != 0 && hint <= mmap.TaskSize-length {
		if n := nextVMA(vs, hint); n == nil || hint+length <= startGapOf(n) {
			return hint, true
		}
	}
	low, high := max(pg, minAddr), mmapBase
	for {
		a, ok := fitGap(vs, low, high, length, true)
		if !ok {
			break
		}
		if n := nextVMA(vs, a); n != nil && startGapOf(n) < a+length {
			high = startGapOf(n)
			continue
		}
		return a, true
	}
	low, high = max((mmap.TaskSize/3+pg-1)&^(pg-1), minAddr), mmap.TaskSize
	for {
		a, ok := fitGap(vs, low, high, length, false)
		if !ok {
			return 0, false
		}
		if n := nextVMA(vs, a); n != nil && startGapOf(n) < a+length {
			low = n.End
			continue
		}
		return a, true
	}
}

// guardPlacementDiffers reports whether a placement by the model (at mr)
// and by the simulator (at sr) of length bytes with hint, made on the
// layout vs, is the known difference above: the simulator chose where
// Linux would and the model did not.
func guardPlacementDiffers(vs []model.VMA, cfg model.Config, hint, length, sr, mr uint64) bool {
	if sr == mr {
		return false
	}
	gd := false
	for _, v := range vs {
		gd = gd || v.Flags&model.VMGrowsDown != 0
	}
	want, ok := linuxPlacement(vs, cfg.MinAddr, cfg.MmapBase, hint, length)
	return gd && ok && want == sr
}
