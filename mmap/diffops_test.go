package mmap_test

import (
	"fmt"

	"github.com/vmsim/vmsim/internal/model"
	"github.com/vmsim/vmsim/mmap"
)

// The calls the differential tests (model_rapid_test.go, fuzz_test.go,
// kernel_linux_test.go) issue: one random generator for all of them, fed
// by rapid, by the fuzzer's bytes, or by math/rand.

const pg = mmap.PageSize

type opKind uint8

const (
	opMmap opKind = iota
	opMunmap
	opMprotect
	opMremap
	opMadvise
	opStore
	opLoad
	opFault // Thread.Fault, mirrored by the model's Touch; flags 1 = write
	numOpKinds
)

var opNames = [...]string{"mmap", "munmap", "mprotect", "mremap", "madvise", "store", "load", "fault"}

// op is one call. Fields unused by a kind are zero.
type op struct {
	kind    opKind
	addr    uint64
	length  uint64 // mmap, munmap, mprotect, madvise; mremap's old length
	prot    uint32 // mmap, mprotect
	flags   uint32 // MAP_* for mmap, MREMAP_* for mremap
	file    int    // mmap: index into the files, or -1 for none
	off     uint64 // mmap: file offset
	newLen  uint64 // mremap
	newAddr uint64 // mremap
	advice  int    // madvise
	val     byte   // store
}

func (o op) String() string {
	switch o.kind {
	case opMmap:
		return fmt.Sprintf("mmap(%#x, %#x, %#x, %s, file%d, %#x)", o.addr, o.length, o.prot, mmap.Flag(o.flags), o.file, o.off)
	case opMunmap:
		return fmt.Sprintf("munmap(%#x, %#x)", o.addr, o.length)
	case opMprotect:
		return fmt.Sprintf("mprotect(%#x, %#x, %#x)", o.addr, o.length, o.prot)
	case opMremap:
		return fmt.Sprintf("mremap(%#x, %#x, %#x, %d, %#x)", o.addr, o.length, o.newLen, o.flags, o.newAddr)
	case opMadvise:
		return fmt.Sprintf("madvise(%#x, %#x, %d)", o.addr, o.length, o.advice)
	case opStore:
		return fmt.Sprintf("store(%#x, %d)", o.addr, o.val)
	case opLoad:
		return fmt.Sprintf("load(%#x)", o.addr)
	case opFault:
		return fmt.Sprintf("fault(%#x, write=%v)", o.addr, o.flags&1 != 0)
	}
	return "op?"
}

// source supplies the random choices: intn returns a number in [0, n).
// Rapid shrinks choices towards 0, so 0 is always the plainest choice.
type source interface {
	intn(n int, label string) int
}

// rare reports true once in odds.
func rare(s source, odds int, label string) bool { return s.intn(odds, label) == odds-1 }

// genCfg says where the generated calls aim.
type genCfg struct {
	// vmas, if set, returns the current layout, so that calls can aim at
	// the edges and insides of existing mappings (where most of the
	// interesting splitting and merging happens).
	vmas  func() []mmap.Mapping
	base  uint64 // the arena: [base, base+pages*pg)
	pages int
	below int // addresses may also fall in the `below` pages under base
	wild  bool
	files int // number of files to choose from
	// noGrowsDown leaves MAP_GROWSDOWN out.
	noGrowsDown bool
	// stacks, if set, returns the starts of the MAP_GROWSDOWN VMAs, so
	// that loads and stores can aim just below them, where a fault grows
	// the stack.
	stacks func() []uint64
}

// Offsets within a page that loads and stores use, so that they meet.
var pageOffsets = []uint64{0, 1, 100, pg - 1}

func (g genCfg) page(s source) uint64 {
	return g.base - uint64(g.below)*pg + uint64(s.intn(g.pages+g.below, "page"))*pg
}

// wildAddrs are addresses at the edges of the address space, for the
// range checks; only with genCfg.wild.
var wildAddrs = []uint64{0, pg, mmap.TaskSize - pg, mmap.TaskSize, 1 << 47, ^uint64(0) &^ (pg - 1)}

func (g genCfg) addr(s source) uint64 {
	switch r := s.intn(40, "addr kind"); {
	case r == 39:
		return g.page(s) + uint64(1+s.intn(pg-1, "unaligned"))
	case r == 38 && g.wild:
		return wildAddrs[s.intn(len(wildAddrs), "wild addr")]
	case r >= 24 && g.vmas != nil:
		if a, ok := g.mapped(s); ok {
			return a
		}
	}
	return g.page(s)
}

// mapped returns the start, or a page inside, of an existing mapping in
// the arena.
func (g genCfg) mapped(s source) (uint64, bool) {
	m, ok := g.pick(s)
	if !ok {
		return 0, false
	}
	if rare(s, 2, "inside") {
		return m.Start + uint64(s.intn(int(m.Len()/pg), "page inside"))*pg, true
	}
	return m.Start, true
}

func (g genCfg) length(s source) uint64 {
	switch r := s.intn(40, "len kind"); {
	case r == 39:
		return 0
	case r == 38:
		return uint64(1 + s.intn(3*pg, "unaligned len"))
	case r == 37 || r == 36:
		return uint64(1+s.intn(g.pages, "long len")) * pg
	case r == 35 && g.wild:
		return []uint64{mmap.TaskSize, 1 << 63, ^uint64(0) - pg + 2, ^uint64(0)}[s.intn(4, "huge len")]
	}
	if rare(s, 2, "short") {
		return uint64(1+s.intn(4, "short len")) * pg
	}
	return uint64(1+s.intn(16, "len")) * pg
}

func genProt(s source) uint32 {
	switch s.intn(12, "prot") {
	case 11:
		return model.ProtNone
	case 10, 9:
		return model.ProtRead
	case 8:
		return model.ProtRead | model.ProtExec
	case 7:
		return model.ProtRead | model.ProtWrite | model.ProtExec
	case 6:
		return model.ProtWrite // readable anyway on x86
	case 5:
		return model.ProtExec
	default:
		return model.ProtRead | model.ProtWrite
	}
}

func (g genCfg) genMmap(s source) op {
	o := op{kind: opMmap, addr: g.addr(s), length: g.length(s), prot: genProt(s), file: -1}
	if rare(s, 40, "odd prot") {
		o.prot |= 0x10 // an unknown bit: ignored by mmap
	}
	switch r := s.intn(20, "placement"); {
	case r < 11:
		o.flags = model.MapFixed
	case r < 14:
		o.flags = model.MapFixedNoreplace
	case r < 17: // a hint
	case r < 19: // no hint: top-down placement
		o.addr = 0
	default:
		o.flags = model.MapFixed | model.MapFixedNoreplace
	}
	switch r := s.intn(20, "type"); {
	case r < 13:
		o.flags |= model.MapPrivate
	case r < 18:
		o.flags |= model.MapShared
	case r < 19:
		o.flags |= model.MapSharedValidate
	default:
		t := uint32(s.intn(16, "odd type"))
		if t == 8 {
			t = 0 // MAP_DROPPABLE is not modelled (internal/model/doc.go)
		}
		o.flags |= t
	}
	if g.files > 0 && rare(s, 3, "file?") {
		o.file = s.intn(g.files, "file")
		o.off = uint64(s.intn(10, "off")) * pg
		if rare(s, 30, "odd off") {
			o.off += 512
		}
	} else {
		o.flags |= model.MapAnonymous
		if rare(s, 60, "no fd") {
			o.flags &^= model.MapAnonymous // neither a file nor MAP_ANONYMOUS: EBADF
		}
	}
	for _, f := range []struct {
		flag uint32
		odds int
	}{
		{model.MapNoReserve, 12}, {model.MapPopulate, 12}, {model.MapGrowsDown, 20},
		{model.MapStack, 30}, {model.MapSync, 30}, {model.MapLocked, 12},
	} {
		if f.flag == model.MapGrowsDown && g.noGrowsDown {
			continue
		}
		if rare(s, f.odds, "flag") {
			o.flags |= f.flag
		}
	}
	return o
}

func (g genCfg) genMremap(s source) op {
	o := op{kind: opMremap, newLen: g.length(s)}
	o.addr, o.length = g.addrLen(s)
	switch s.intn(10, "mremap kind") {
	case 0, 1: // resize in place only
	case 2, 3: // may move
		o.flags = model.MremapMaymove
	case 4, 5, 6: // a fixed move, often of the same size (a multi-VMA move)
		o.flags = model.MremapMaymove | model.MremapFixed
		o.newAddr = g.addr(s)
		if rare(s, 2, "same size") {
			o.newLen = o.length
		}
	case 7: // MREMAP_DONTUNMAP, fixed or hinted
		o.flags = model.MremapMaymove | model.MremapDontunmap
		o.newLen = o.length
		o.newAddr = g.page(s)
		if rare(s, 2, "fixed") {
			o.flags |= model.MremapFixed
		}
	case 8: // duplicate a shared mapping (old_len 0)
		o.flags = model.MremapMaymove
		o.length = 0
		if rare(s, 2, "fixed") {
			o.flags |= model.MremapFixed
			o.newAddr = g.page(s)
		}
	default: // odd flags
		o.flags = uint32(s.intn(9, "odd flags"))
		o.newAddr = g.addr(s)
	}
	return o
}

// advices are the advice values the generator draws: every one vmsim
// implements, and some Linux rejects (5, 7, 1212). Values Linux accepts
// for features vmsim lacks (MADV_REMOVE, MADV_MERGEABLE, ...) are left
// out, since vmsim answers them EINVAL where the kernel does not.
var advices = []int{model.MadvNormal, model.MadvRandom, model.MadvSequential, model.MadvWillneed,
	model.MadvDontneed, model.MadvDontneed, model.MadvFree, 5, 7, 1212,
	model.MadvDontfork, model.MadvDofork, model.MadvDontdump, model.MadvDodump,
	model.MadvWipeonfork, model.MadvKeeponfork, model.MadvHugepage, model.MadvNohugepage,
	model.MadvCold, model.MadvPageout, model.MadvPopulateRead, model.MadvPopulateWrite}

// gen returns one random call.
func (g genCfg) gen(s source) op {
	switch r := s.intn(100, "kind"); {
	case r < 26:
		return g.genMmap(s)
	case r < 36:
		o := op{kind: opMunmap}
		o.addr, o.length = g.addrLen(s)
		if o.addr == 0 && o.length >= 1<<40 {
			// A valid munmap of most of the address space: the model
			// forgets private pages one page at a time over the whole
			// range (internal/model: contents.dropPrivate), which takes
			// minutes for 2^35 pages. Keep the huge length, but make
			// the range overrun TASK_SIZE (EINVAL in both).
			o.addr = pg
		}
		return o
	case r < 50:
		o := op{kind: opMprotect, prot: genProt(s)}
		o.addr, o.length = g.addrLen(s)
		switch s.intn(40, "odd mprotect prot") {
		case 39:
			o.prot |= model.ProtGrowsDown
		case 38:
			o.prot |= model.ProtSem
		case 37:
			o.prot |= 0x40 // invalid
		case 36:
			o.prot |= model.ProtGrowsUp
		}
		return o
	case r < 64:
		return g.genMremap(s)
	case r < 74:
		o := op{kind: opMadvise, advice: advices[s.intn(len(advices), "advice")]}
		o.addr, o.length = g.addrLen(s)
		return o
	case r < 84:
		return op{kind: opStore, addr: g.accessPage(s) + pageOffsets[s.intn(len(pageOffsets), "offset")], val: byte(1 + s.intn(255, "val"))}
	case r < 89:
		return op{kind: opFault, addr: g.accessPage(s) + pageOffsets[s.intn(len(pageOffsets), "offset")], flags: uint32(s.intn(2, "write"))}
	default:
		return op{kind: opLoad, addr: g.accessPage(s) + pageOffsets[s.intn(len(pageOffsets), "offset")]}
	}
}

// addrLen returns the range of a call: often a page-aligned subrange of
// one mapping (so that the call succeeds and splits or merges), else an
// address and a length chosen independently.
func (g genCfg) addrLen(s source) (uint64, uint64) {
	if g.vmas != nil && rare(s, 2, "within") {
		if m, ok := g.pick(s); ok {
			n := int(m.Len() / pg)
			first := s.intn(n, "first page")
			count := 1 + s.intn(n-first, "pages")
			return m.Start + uint64(first)*pg, uint64(count) * pg
		}
	}
	return g.addr(s), g.length(s)
}

// pick returns one of the mappings that overlap the arena.
func (g genCfg) pick(s source) (mmap.Mapping, bool) {
	var in []mmap.Mapping
	for _, m := range g.vmas() {
		if m.End > g.base-uint64(g.below)*pg && m.Start < g.base+uint64(g.pages)*pg {
			in = append(in, m)
		}
	}
	if len(in) == 0 {
		return mmap.Mapping{}, false
	}
	return in[s.intn(len(in), "mapping")], true
}

// accessPage returns a page for a load or a store: mostly one inside a
// mapping, sometimes any page of the arena.
func (g genCfg) accessPage(s source) uint64 {
	if g.stacks != nil && rare(s, 4, "below a stack") {
		if a, ok := g.belowStack(s); ok {
			return a
		}
	}
	if g.vmas != nil && !rare(s, 3, "anywhere") {
		if m, ok := g.pick(s); ok {
			return m.Start + uint64(s.intn(int(min(m.Len()/pg, 64)), "page inside"))*pg
		}
	}
	return g.page(s)
}

// belowStack returns a page in the arena a little below the start of a
// MAP_GROWSDOWN VMA: mostly within 4 pages, sometimes anywhere below it.
func (g genCfg) belowStack(s source) (uint64, bool) {
	low := g.base - uint64(g.below)*pg
	var in []uint64
	for _, a := range g.stacks() {
		if a > low && a <= g.base+uint64(g.pages)*pg {
			in = append(in, a)
		}
	}
	if len(in) == 0 {
		return 0, false
	}
	a := in[s.intn(len(in), "stack")]
	room := int((a - low) / pg)
	n := min(room, 4)
	if rare(s, 4, "far below") {
		n = room
	}
	return a - uint64(1+s.intn(n, "pages below"))*pg, true
}
