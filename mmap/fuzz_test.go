package mmap_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmsim/vmsim/internal/model"
	"github.com/vmsim/vmsim/mmap"
)

// FuzzSyscalls decodes its input into a configuration and a sequence of
// calls (decodeOps), runs them on an AddressSpace and on the reference
// model, and fails on a panic, on Check() != nil after any call, and on
// any difference from the model (result, errno, layout, hidden state,
// contents of the page touched). The seed corpus in
// testdata/fuzz/FuzzSyscalls runs in plain `go test`; fuzz with
//
//	go test -run '^$' -fuzz FuzzSyscalls -fuzztime 3m ./mmap/
func FuzzSyscalls(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ops := decodeOps(data)
		p, err := newSimModel(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.close()
		for _, o := range ops {
			if err := p.do(o); err != nil {
				t.Fatalf("%s: %v\n%s", o, err, p.report())
			}
			if err := p.compare(); err != nil {
				t.Fatalf("%s: %v\n%s", o, err, p.report())
			}
		}
	})
}

// The fuzz input format. Byte 0 picks the policy (mod 3) and byte 1 the
// map-count limit (0: Linux's default; else 3 + b%13). Then each call is
// one record of fuzzRecord bytes (a short last record is dropped):
//
//	0  kind: mmap, munmap, mprotect, mremap, madvise, store, load, fault
//	   (mod 8)
//	1  address: page index in the arena, from 2 pages below its base
//	2  address variant (mod 16): 10 unaligned, 11 no hint (0), 12 a wild
//	   address (wildAddrs[byte 1]), else aligned
//	3  length in pages (mod 17; 0 is a zero length)
//	4  length variant (mod 16): 12 unaligned bytes, 13 a wild length,
//	   14 and 15 long (byte 3 mod 64 + 1 pages), else as byte 3
//	5  prot: bits 0-2 PROT_READ|WRITE|EXEC, 3 PROT_SEM, 4 an unknown bit
//	   (0x10), 6 PROT_GROWSDOWN, 7 PROT_GROWSUP (the last three for
//	   mprotect only)
//	6  mmap: the low flag byte as is (type, MAP_FIXED, MAP_ANONYMOUS,
//	   0x40, 0x80); mremap: the MREMAP_* flags (low 3 bits, or all of it
//	   if bit 3 is set)
//	7  mmap: one bit each for MAP_GROWSDOWN, MAP_NORESERVE, MAP_POPULATE,
//	   MAP_STACK, MAP_SYNC, MAP_FIXED_NOREPLACE, MAP_DENYWRITE,
//	   MAP_UNINITIALIZED
//	8  mmap: file (mod 4: none, file 1 rw, file 1 ro, file 2 rw) and
//	   offset in pages (byte >> 2 mod 16; bit 7 adds 512 bytes)
//	9  mremap: new length in pages (mod 17, 0 is zero; odd values of byte
//	   10 above 250 add unaligned bytes)
//	10 mremap: new address page (as byte 1)
//	11 madvise: advice (advices[b mod len]); store: the value (0 is 1);
//	   load, store and fault: the offset in the page (pageOffsets[b mod
//	   4]); fault: bit 7 makes it a write fault
const fuzzRecord = 12

// fuzzArena is where decoded calls aim: the rapid test's arena.
var fuzzArena = genCfg{base: rapidBase, pages: rapidPages, below: 2}

// mmap flag bits selected by byte 7 of a record, in bit order.
var fuzzMapFlags = []uint32{model.MapGrowsDown, model.MapNoReserve, model.MapPopulate, model.MapStack,
	model.MapSync, model.MapFixedNoreplace, model.MapDenyWrite, model.MapUninitialized}

// decodeOps turns fuzz input into a configuration and calls.
func decodeOps(data []byte) (diffConfig, []op) {
	cfg := diffConfig{mmapBase: rapidBase + 48*pg, minAddr: rapidBase + 2*pg}
	if len(data) < 2 {
		return cfg, nil
	}
	cfg.policy = diffPolicies[int(data[0])%len(diffPolicies)]
	if data[1] != 0 {
		cfg.maxMapCount = 3 + int(data[1])%13
	}
	var ops []op
	for r := data[2:]; len(r) >= fuzzRecord; r = r[fuzzRecord:] {
		ops = append(ops, decodeOp(r[:fuzzRecord]))
	}
	return cfg, ops
}

func fuzzPage(b byte) uint64 {
	g := fuzzArena
	return g.base - uint64(g.below)*pg + uint64(int(b)%(g.pages+g.below))*pg
}

func decodeOp(b []byte) op {
	o := op{kind: opKind(int(b[0]) % int(numOpKinds)), file: -1}
	o.addr = fuzzPage(b[1])
	switch b[2] % 16 {
	case 10:
		o.addr += 1 + uint64(b[2])*15
	case 11:
		o.addr = 0
	case 12:
		o.addr = wildAddrs[int(b[1])%len(wildAddrs)]
	}
	o.length = uint64(b[3]%17) * pg
	switch b[4] % 16 {
	case 12:
		o.length = 1 + uint64(b[3])*37
	case 13:
		o.length = []uint64{mmap.TaskSize, 1 << 63, ^uint64(0) - pg + 2, ^uint64(0)}[b[3]%4]
	case 14, 15:
		o.length = uint64(b[3]%64+1) * pg
	}
	o.prot = uint32(b[5] & 0x1f)
	switch o.kind {
	case opMmap:
		o.flags = uint32(b[6])
		if o.flags&model.MapType == 8 {
			o.flags &^= 8 // MAP_DROPPABLE is not modelled (internal/model/doc.go)
		}
		for i, fl := range fuzzMapFlags {
			if b[7]&(1<<i) != 0 {
				o.flags |= fl
			}
		}
		if k := int(b[8] % 4); k > 0 {
			o.file = k - 1
		}
		o.off = uint64(b[8]>>2%16) * pg
		if b[8]&0x80 != 0 {
			o.off += 512
		}
	case opMunmap:
		if o.addr == 0 && o.length >= 1<<40 {
			o.addr = pg // see the same guard in genCfg.gen
		}
	case opMprotect:
		if b[5]&0x40 != 0 {
			o.prot |= model.ProtGrowsDown
		}
		if b[5]&0x80 != 0 {
			o.prot |= model.ProtGrowsUp
		}
		if b[5]&0x10 != 0 {
			o.prot = o.prot&^0x10 | 0x40 // an invalid bit
		}
	case opMremap:
		o.flags = uint32(b[6] & 7)
		if b[6]&8 != 0 {
			o.flags = uint32(b[6])
		}
		o.newLen = uint64(b[9]%17) * pg
		if b[10] > 250 {
			o.newLen += uint64(b[10]) - 250
		}
		o.newAddr = fuzzPage(b[10])
	case opMadvise:
		o.advice = advices[int(b[11])%len(advices)]
	case opStore, opLoad, opFault:
		o.addr = o.addr&^(pg-1) + pageOffsets[b[11]%4]
		o.val = max(b[11], 1)
		if o.kind == opFault {
			o.flags = uint32(b[11] >> 7)
		}
	}
	return o
}

// rec builds one fuzz record (see decodeOps); page is relative to the
// arena's base (-2 and -1 are the pages below it).
func rec(kind opKind, page int, avar byte, pages byte, lvar byte, prot byte, f6, f7, f8, newLen byte, newPage int, b11 byte) []byte {
	return []byte{byte(kind), byte(page + fuzzArena.below), avar, pages, lvar, prot, f6, f7, f8, newLen, byte(newPage + fuzzArena.below), b11}
}

// fuzzSeeds are the hand-written seeds of the committed corpus: each a
// scenario worth keeping as a regression test.
func fuzzSeeds() map[string][]byte {
	const (
		anon    = byte(model.MapPrivate | model.MapAnonymous | model.MapFixed)
		shAnn   = byte(model.MapShared | model.MapAnonymous | model.MapFixed)
		priv    = byte(model.MapPrivate | model.MapFixed)
		shr     = byte(model.MapShared | model.MapFixed)
		shv     = byte(model.MapSharedValidate | model.MapFixed)
		mm      = byte(model.MremapMaymove)
		mfix    = byte(model.MremapMaymove | model.MremapFixed)
		mdu     = byte(model.MremapMaymove | model.MremapDontunmap)
		popul   = 1 << 2
		sync    = 1 << 4
		gdown   = 1 << 0
		noRep   = 1 << 5
		file1   = 1 // byte 8: file 1 rw, offset 0
		file1ro = 2
		file2   = 3
	)
	seq := func(pol, mapCount byte, recs ...[]byte) []byte {
		b := []byte{pol, mapCount}
		for _, r := range recs {
			b = append(b, r...)
		}
		return b
	}
	return map[string][]byte{
		"split-merge-mprotect": seq(0, 0,
			rec(opMmap, 4, 0, 8, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opStore, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7),
			rec(opMprotect, 6, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0),
			rec(opLoad, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opMprotect, 6, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0),
			rec(opStore, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9)),
		"anon-vma-reuse-merge": seq(1, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 6, 0, 2, 0, 1, anon, 0, 0, 0, 0, 0),
			rec(opStore, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
			rec(opMprotect, 6, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0),
			rec(opStore, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
			rec(opMprotect, 4, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0)),
		"mremap-grow-then-move": seq(2, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opStore, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3),
			rec(opMremap, 4, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0),
			rec(opMmap, 8, 0, 1, 0, 1, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 4, 0, 0, mm, 0, 0, 6, 0, 0),
			rec(opLoad, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"mremap-fixed-multi-vma": seq(0, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 7, 0, 2, 0, 1, anon, 0, 0, 0, 0, 0),
			rec(opStore, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4),
			rec(opMmap, 31, 0, 1, 0, 5, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 5, 0, 0, mfix, 0, 0, 5, 28, 0),
			rec(opLoad, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"mremap-hole-at-start": seq(1, 0,
			rec(opMmap, 6, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 4, 0, 0, mfix, 0, 0, 4, 30, 0)),
		"dontunmap-whole-vma": seq(2, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opStore, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5),
			rec(opMremap, 4, 0, 2, 0, 0, mdu|byte(model.MremapFixed), 0, 0, 2, 20, 0),
			rec(opMmap, 6, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opStore, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6),
			rec(opLoad, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"dontunmap-hint": seq(0, 0,
			rec(opMmap, 4, 0, 3, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 5, 0, 1, 0, 0, mdu, 0, 0, 1, 10, 0)),
		"map-sync-leaves-hole": seq(1, 0,
			rec(opMmap, 4, 0, 4, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 5, 0, 2, 0, 3, shv, sync, file1, 0, 0, 0),
			rec(opMmap, 10, 0, 2, 0, 3, anon, sync, 0, 0, 0, 0),
			rec(opMmap, 12, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0)),
		"small-map-count": seq(2, 1,
			rec(opMmap, 4, 0, 8, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMprotect, 5, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0),
			rec(opMprotect, 7, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0),
			rec(opMadvise, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1),
			rec(opMunmap, 10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opMmap, 30, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 1, 0, 0, mfix, 0, 0, 1, 40, 0)),
		"map-count-limit-mmap": seq(0, 2,
			rec(opMmap, 4, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 6, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 8, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 10, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 12, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 14, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 16, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0)),
		"shared-anon-duplicate-and-grow": seq(1, 0,
			rec(opMmap, 4, 0, 2, 0, 3, shAnn, 0, 0, 0, 0, 0),
			rec(opStore, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8),
			rec(opMremap, 4, 0, 0, 0, 0, mm, 0, 0, 2, 0, 0),
			rec(opMremap, 4, 0, 0, 0, 0, mfix, 0, 0, 2, 20, 0),
			rec(opLoad, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opMremap, 20, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0),
			rec(opLoad, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"populate-private-file": seq(2, 0,
			rec(opMmap, 4, 0, 4, 0, 3, priv, popul, file1, 0, 0, 0),
			rec(opMmap, 16, 0, 4, 0, 3, shr, 0, file1, 0, 0, 0),
			rec(opStore, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9),
			rec(opLoad, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"private-file-write-beyond-eof": seq(0, 0,
			rec(opMmap, 4, 0, 4, 0, 3, priv, 0, file2|8<<2, 0, 0, 0),
			rec(opStore, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
			rec(opMmap, 8, 0, 2, 0, 3, priv, 0, file2|12<<2, 0, 0, 0),
			rec(opStore, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2)),
		"file-partial-last-page": seq(1, 0,
			rec(opMmap, 4, 0, 10, 0, 1, shr, 0, file1ro, 0, 0, 0),
			rec(opLoad, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3),
			rec(opLoad, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opMprotect, 4, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0)),
		"growsdown-guard-placement": seq(2, 0,
			rec(opMmap, 47, 0, 1, 0, 3, anon, gdown, 0, 0, 0, 0),
			rec(opMmap, 44, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 30, 0, 1, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMmap, 0, 11, 1, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMprotect, 47, 0, 1, 0, 1|0x40, 0, 0, 0, 0, 0, 0)),
		"hint-below-min-addr": seq(0, 0,
			rec(opMmap, -2, 0, 1, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMmap, -1, 0, 1, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, -2, 0, 1, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0)),
		"topdown-fill-fallback": seq(1, 0,
			rec(opMmap, 0, 11, 16, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMmap, 0, 11, 16, 0, 1, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMmap, 0, 11, 14, 0, 3, byte(model.MapShared|model.MapAnonymous), 0, 0, 0, 0, 0),
			rec(opMmap, 0, 11, 16, 0, 3, byte(model.MapPrivate|model.MapAnonymous), 0, 0, 0, 0, 0)),
		"madvise-free-dontneed-holes": seq(2, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 8, 0, 2, 0, 3, priv, 0, file1, 0, 0, 0),
			rec(opStore, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
			rec(opStore, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
			rec(opMadvise, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 6),
			rec(opMadvise, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 4),
			rec(opLoad, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opLoad, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"madvise-seq-rand-merge": seq(0, 0,
			rec(opMmap, 4, 0, 6, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMadvise, 5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2),
			rec(opMadvise, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2),
			rec(opMadvise, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0)),
		"errno-order": seq(1, 0,
			rec(opMmap, 4, 10, 0, 0, 3, anon|byte(model.MapShared), 0, 0, 0, 0, 0),
			rec(opMmap, 4, 12, 1, 13, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 4, 0, 1, 0, 3, byte(model.MapFixed), 0, 0, 0, 0, 0),
			rec(opMmap, 4, 0, 1, 0, 3, shv, noRep, file1, 0, 0, 0),
			rec(opMprotect, 4, 0, 1, 0, 0xc0, 0, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 1, 0, 0, 0x0f, 0, 0, 1, 0, 0),
			rec(opMunmap, 0, 12, 1, 13, 0, 0, 0, 0, 0, 0, 0)),
		"fixed-noreplace-selftest": seq(2, 0,
			rec(opMmap, 5, 0, 3, 0, 0, byte(model.MapPrivate|model.MapAnonymous), noRep, 0, 0, 0, 0),
			rec(opMmap, 4, 0, 5, 0, 0, byte(model.MapPrivate|model.MapAnonymous), noRep, 0, 0, 0, 0),
			rec(opMmap, 4, 0, 1, 0, 0, byte(model.MapPrivate|model.MapAnonymous), noRep, 0, 0, 0, 0),
			rec(opMmap, 8, 0, 1, 0, 0, byte(model.MapPrivate|model.MapAnonymous), noRep, 0, 0, 0, 0)),
		"write-fault-private-file": seq(1, 0,
			rec(opMmap, 4, 0, 2, 0, 3, priv, 0, file1, 0, 0, 0),
			rec(opMmap, 8, 0, 2, 0, 3, shr, 0, file1, 0, 0, 0),
			rec(opFault, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80),
			rec(opFault, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opStore, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4),
			rec(opStore, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4),
			rec(opLoad, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			rec(opLoad, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		"mremap-shrink-across-vmas": seq(0, 0,
			rec(opMmap, 4, 0, 2, 0, 3, anon, 0, 0, 0, 0, 0),
			rec(opMmap, 6, 0, 2, 0, 1, anon, 0, 0, 0, 0, 0),
			rec(opMremap, 4, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0)),
	}
}

// TestWriteFuzzSeeds writes the committed seed corpus: the hand-written
// scenarios above and random inputs. It runs only with
// VMSIM_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("VMSIM_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set VMSIM_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzSyscalls")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSyscalls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range fuzzSeeds() {
		write(name, data)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 16 {
		data := make([]byte, 2+fuzzRecord*(10+r.IntN(40)))
		for j := range data {
			data[j] = byte(r.IntN(256))
		}
		write(fmt.Sprintf("random-%02d", i), data)
	}
}
