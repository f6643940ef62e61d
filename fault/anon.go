package fault

import "github.com/vmsim/vmsim/pgtable"

// anonFault handles a fault in private anonymous memory, which has no
// backing object (mm/memory.c: do_anonymous_page, and do_wp_page for the
// zero page). It never blocks, so it runs on the fast path under RCU with
// no VMA reference: a read maps the shared zero frame read-only; a write
// allocates a zeroed frame of its own, replacing the zero frame if that
// was mapped. A write to an anonymous page already mapped is wpFault's.
func (mm *MM) anonFault(vf *VMFault) Result {
	v := vf.VMA
	if !vf.Write() {
		if mm.Table.Lookup(vf.Address).Present() {
			return NoPage // a racing fault mapped it
		}
		flags := pteFlags(v, false) | pgtable.PTEZero
		return mm.install(vf, pgtable.ZeroPFN, flags)
	}
	// do_anonymous_page() → vmf_anon_prepare(): the VMA may get its
	// first anon_vma here, which is what a fork copying it races with.
	mm.s.Point("fault.anon_prepare")
	mm.prepareAnon(vf)
	p, err := mm.Frames.Alloc()
	if err != nil {
		return OOM
	}
	mm.Frames.SetAnon(p, v.AnonVMA())
	return mm.install(vf, p, pteFlags(v, true)|pgtable.PTEAnon)
}
