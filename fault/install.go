package fault

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/trace"
	"github.com/vmsim/vmsim/vma"
)

// pteFlags returns the PTE bits for a page of v: readable whenever the VMA
// allows any access (x86 has no write-only or exec-only pages), writable
// only when the caller says the page may be written in place.
func pteFlags(v *vma.VMA, writable bool) pgtable.PTE {
	f := pgtable.PTEPresent | pgtable.PTERead | pgtable.PTEAccessed
	if v.Prot&vma.ProtExec != 0 {
		f |= pgtable.PTEExec
	}
	if writable {
		f |= pgtable.PTEWrite | pgtable.PTEDirty
	}
	return f
}

// validLocked reports whether a PTE for page offset pgoff of v may still
// be installed: the VMA is attached (a writer detaches before it zaps, so
// nothing installed after this check can outlive the zap) and the page is
// inside its backing.
//
// Preconditions: leaf, the page-table leaf of the address, is locked. If
// the backing's Pages panics, leaf is unlocked and the caller's reference
// on drop (the page it was about to install; ZeroPFN for none) is put, so
// that the panic leaves no lock and no frame behind.
func (mm *MM) validLocked(leaf *pgtable.Leaf, v *vma.VMA, pgoff uint64, drop pgtable.PFN) bool {
	if !mm.cfg.Quirks.Has(QuirkNoDetachCheck) && !v.Attached() {
		return false
	}
	if s, ok := v.Backing.(Sizer); ok && pgoff >= mm.pagesLocked(leaf, s, drop) {
		return false
	}
	return true
}

// attachedLocked is the part of validLocked that applies to an anonymous
// page: the VMA is still attached. An anonymous page is the process's, not
// the file's, so a write fault on one does not look at the file's size
// (do_wp_page does not; a truncate zaps private copies itself, with
// unmap_mapping_range's even_cows).
//
// Preconditions: the page-table leaf of the address is locked.
func (mm *MM) attachedLocked(v *vma.VMA) bool {
	return mm.cfg.Quirks.Has(QuirkNoDetachCheck) || v.Attached()
}

// pagesLocked returns s.Pages(); see validLocked for a panic.
func (mm *MM) pagesLocked(leaf *pgtable.Leaf, s Sizer, drop pgtable.PFN) uint64 {
	done := false
	defer func() {
		if !done {
			leaf.Unlock()
			mm.Frames.Put(drop)
		}
	}()
	n := s.Pages()
	done = true
	return n
}

func permits(e pgtable.PTE, write bool) bool {
	if !e.Present() {
		return false
	}
	if write {
		return e&pgtable.PTEWrite != 0
	}
	return e&pgtable.PTERead != 0
}

// mapPage is VMFault.MapPageResult: a read-only PTE for a page the
// backing has at hand (mm/filemap.c: filemap_map_pages → set_pte_range).
func (mm *MM) mapPage(vf *VMFault, addr uint64, p pgtable.PFN) MapResult {
	v := vf.VMA
	if addr < v.Start || addr >= v.End || addr&pgtable.PageMask != 0 {
		return MapRefused
	}
	leaf := mm.Table.LockLeaf(addr)
	if leaf.Get(addr).Present() {
		leaf.Unlock()
		return MapPresent
	}
	if !mm.validLocked(leaf, v, v.Pgoff+(addr-v.Start)>>pgtable.PageShift, pgtable.ZeroPFN) {
		leaf.Unlock()
		vf.ctx.Counters.InstallRaced.Add(1)
		return MapRefused
	}
	mm.s.Point("pte.install")
	mm.Frames.Get(p)
	leaf.SetLocked(addr, pgtable.MakePTE(p, pteFlags(v, false)))
	leaf.Unlock()
	vf.ctx.Counters.Installs.Add(1)
	traceInstall(vf.ctx, addr, p)
	return MapInstalled
}

func traceInstall(ctx *Context, addr uint64, p pgtable.PFN) {
	if tb := ctx.Trace; tb != nil {
		emitInstall(tb, addr, p)
	}
}

//go:noinline
func emitInstall(tb *trace.Buffer, addr uint64, p pgtable.PFN) {
	tb.Emit(trace.Event{Kind: trace.Install, Addr: addr, Value: uint64(p)})
}

// finishFault installs the page a backing's Fault returned, copying it
// first for a write to a private mapping (mm/memory.c: finish_fault and
// do_cow_fault).
func (mm *MM) finishFault(vf *VMFault) Result {
	v := vf.VMA
	page, owned := vf.Page, vf.Owned
	shared := v.Flags&vma.FlagShared != 0
	if vf.Write() && !shared && !owned {
		mm.prepareAnon(vf)
		np, err := mm.Frames.AllocCopy(page)
		if err != nil {
			mm.Frames.Put(page)
			return OOM
		}
		mm.Frames.SetAnon(np, v.AnonVMA())
		mm.Frames.Put(page)
		page, owned = np, true
		vf.ctx.Counters.CopyOnWrite.Add(1)
	}
	flags := pteFlags(v, vf.Write() && (shared || owned))
	if owned && !shared {
		flags |= pgtable.PTEAnon
	}
	return mm.install(vf, page, flags)
}

// install maps page at vf.Address with flags, under the leaf lock, after
// validLocked. It consumes the caller's reference on page. It returns
// NoPage when the address is now mapped for the access and Retry when the
// VMA was detached or the page left its backing under us.
//
// A present PTE that does not permit the access (the zero page or a
// page-cache page under a private write, or a read-only PTE under a shared
// write) is replaced; a replaced page is flushed from every TLB before its
// reference is dropped (mm/memory.c: wp_page_copy → ptep_clear_flush).
func (mm *MM) install(vf *VMFault, page pgtable.PFN, flags pgtable.PTE) Result {
	c := vf.ctx.Counters
	addr := vf.Address
	leaf := mm.Table.LockLeaf(addr)
	if !mm.validLocked(leaf, vf.VMA, vf.Pgoff, page) {
		leaf.Unlock()
		mm.Frames.Put(page)
		c.InstallRaced.Add(1)
		return Retry
	}
	old := leaf.Get(addr)
	if permits(old, vf.Write()) || vf.Write() && vf.VMA.Flags&vma.FlagShared == 0 && mm.anonPTE(old) {
		// A racing fault got here first. (If it mapped an anonymous
		// page that a fork has since write-protected, replacing it
		// would lose its contents: the access tries again, and
		// wpFault copies or reuses that page.)
		leaf.Unlock()
		mm.Frames.Put(page)
		c.InstallRaced.Add(1)
		return NoPage
	}
	mm.s.Point("pte.install")
	leaf.SetLocked(addr, pgtable.MakePTE(page, flags))
	leaf.Unlock()
	c.Installs.Add(1)
	traceInstall(vf.ctx, addr, page)
	if old.Present() {
		mm.owner.Shootdown(addr, addr+pgtable.PageSize)
		mm.Frames.Put(old.PFN())
	}
	return NoPage
}

// wpFault handles a write fault on a present, read-only PTE of a private
// mapping that maps an anonymous page (mm/memory.c: do_wp_page): the
// page is made writable in place if it is this mapping's alone
// (wp_page_reuse) — exclusive (PTEAnon: after mprotect made it
// read-only and writable again), or no longer shared because the only
// reference left is this PTE's (wp_can_reuse_anon_folio(): the other
// address space of a fork has since copied or unmapped it) — and copied
// otherwise (wp_page_copy). It returns 0 when the fault is not of that
// kind: the zero page and page-cache pages are copied by the callers.
func (mm *MM) wpFault(vf *VMFault) Result {
	v := vf.VMA
	if v.Flags&vma.FlagShared != 0 || !mm.anonPTE(mm.Table.Lookup(vf.Address)) {
		return 0
	}
	leaf := mm.Table.LockLeaf(vf.Address)
	e := leaf.Get(vf.Address)
	if !mm.anonPTE(e) {
		leaf.Unlock()
		return 0
	}
	if !mm.attachedLocked(v) {
		leaf.Unlock()
		return Retry
	}
	if e&pgtable.PTEWrite != 0 {
		leaf.Unlock() // a racing fault got here first
		return NoPage
	}
	p := e.PFN()
	if e&pgtable.PTEAnon != 0 || mm.Frames.Refcount(p) == 1 {
		mm.s.Point("pte.install")
		leaf.SetLocked(vf.Address, e|pgtable.PTEAnon|pgtable.PTEWrite|pgtable.PTEDirty)
		leaf.Unlock()
		vf.ctx.Counters.Installs.Add(1)
		vf.ctx.Counters.Pgreuse.Add(1)
		traceStep(vf.ctx, trace.Note, vf.Address, "cow: reuse")
		return NoPage
	}
	// Hold the page while it is copied with no lock held (wp_page_copy:
	// folio_get before pte_unmap_unlock).
	mm.Frames.Get(p)
	leaf.Unlock()
	return mm.wpCopy(vf, e)
}

// anonPTE reports whether e maps an anonymous page (not the zero page).
func (mm *MM) anonPTE(e pgtable.PTE) bool {
	return e.Present() && e.PFN() != pgtable.ZeroPFN && (e&pgtable.PTEAnon != 0 || mm.Frames.Anon(e.PFN()) != 0)
}

// wpCopy copies the shared anonymous page that old maps at vf.Address
// into a new page of vf.VMA's anon_vma and maps it writable in place of
// old, if the PTE is still old (mm/memory.c: wp_page_copy, which
// rechecks pte_same under the lock). It consumes the caller's reference
// on old's page. Running out of frames is this fault's OOM: the shared
// page stays mapped, read-only, in every address space that maps it.
func (mm *MM) wpCopy(vf *VMFault, old pgtable.PTE) Result {
	v := vf.VMA
	p := old.PFN()
	defer mm.Frames.Put(p)
	mm.prepareAnon(vf)
	np, err := mm.Frames.AllocCopy(p)
	if err != nil {
		return OOM
	}
	mm.Frames.SetAnon(np, v.AnonVMA())
	c := vf.ctx.Counters
	leaf := mm.Table.LockLeaf(vf.Address)
	if !mm.attachedLocked(v) {
		leaf.Unlock()
		mm.Frames.Put(np)
		c.InstallRaced.Add(1)
		return Retry
	}
	if leaf.Get(vf.Address) != old {
		// A racing fault, munmap or MADV_DONTNEED changed the PTE: let
		// the access try again.
		leaf.Unlock()
		mm.Frames.Put(np)
		c.InstallRaced.Add(1)
		return NoPage
	}
	mm.s.Point("pte.install")
	leaf.SetLocked(vf.Address, pgtable.MakePTE(np, pteFlags(v, true)|pgtable.PTEAnon))
	leaf.Unlock()
	c.Installs.Add(1)
	c.CopyOnWrite.Add(1)
	traceStep(vf.ctx, trace.Note, vf.Address, "cow: copy")
	traceInstall(vf.ctx, vf.Address, np)
	mm.owner.Shootdown(vf.Address, vf.Address+pgtable.PageSize)
	mm.Frames.Put(p) // the old PTE's reference
	return NoPage
}
