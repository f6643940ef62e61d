package pgtable

import (
	"strconv"
	"strings"
)

// PTE is a page-table entry value: a frame number in bits 12 and up and
// flags in bits 0..11 (an x86-like layout of our own). A PTE is a plain
// value; the slots that hold PTEs in a Table are atomic.
//
// PTEPresent means "a frame is mapped here"; access rights are the R/W/X
// bits. A PROT_NONE mapping therefore keeps PTEPresent with none of R/W/X
// set, as Linux's _PAGE_PROTNONE entries still satisfy pte_present(), so
// that Zap finds and frees its frame.
type PTE uint64

// PTE flag bits.
const (
	// PTEPresent: the entry maps PFN().
	PTEPresent PTE = 1 << iota
	// PTERead: loads are allowed.
	PTERead
	// PTEWrite: stores are allowed.
	PTEWrite
	// PTEExec: instruction fetch is allowed.
	PTEExec
	// PTEDirty: the page was written through this entry.
	PTEDirty
	// PTEAccessed: the page was accessed through this entry.
	PTEAccessed
	// PTEZero: the entry maps the shared zero frame; it is read-only and a
	// write must fault and copy.
	PTEZero
	// PTEAnon: the entry maps a private anonymous page that belongs to
	// this mapping alone (Linux PageAnonExclusive), so a write fault may
	// make it writable in place instead of copying it.
	PTEAnon
)

// PTEFlagMask selects the flag bits of a PTE.
const PTEFlagMask PTE = PageMask

// MakePTE returns an entry mapping frame p with the given flags (bits
// outside PTEFlagMask are ignored). Compare Linux pfn_pte().
func MakePTE(p PFN, flags PTE) PTE {
	return PTE(p)<<PageShift | flags&PTEFlagMask
}

// PFN returns the frame number of e.
func (e PTE) PFN() PFN { return PFN(e >> PageShift) }

// Present reports whether e maps a frame (Linux pte_present).
func (e PTE) Present() bool { return e&PTEPresent != 0 }

// Flags returns the flag bits of e.
func (e PTE) Flags() PTE { return e & PTEFlagMask }

// String formats e for debugging: "none" for 0, otherwise "pfn=N " then
// r/w/x (or '-') and the letters d (dirty), a (accessed), z (zero frame), A (anon),
// with " !p" when PTEPresent is clear. Example: "pfn=12 rw-da".
func (e PTE) String() string {
	if e == 0 {
		return "none"
	}
	var s strings.Builder
	s.WriteString("pfn=")
	s.WriteString(strconv.FormatUint(uint64(e.PFN()), 10))
	s.WriteByte(' ')
	for _, b := range [...]struct {
		bit PTE
		on  byte
		opt bool
	}{
		{PTERead, 'r', false}, {PTEWrite, 'w', false}, {PTEExec, 'x', false},
		{PTEDirty, 'd', true}, {PTEAccessed, 'a', true}, {PTEZero, 'z', true}, {PTEAnon, 'A', true},
	} {
		switch {
		case e&b.bit != 0:
			s.WriteByte(b.on)
		case !b.opt:
			s.WriteByte('-')
		}
	}
	if !e.Present() {
		s.WriteString(" !p")
	}
	return s.String()
}
