package model

import "maps"

// Fork returns the child of a fork(2) of m (kernel/fork.c: dup_mmap()):
// the same VMAs except VMDontCopy ones, without VMLocked (and with no
// locked memory); a VMWipeOnFork VMA keeps its place but no anon_vma and
// no private pages (it reads zeros); every other private page is copied
// (the child's view of copy-on-write); a VMA with an anon_vma gets a new
// one of its own, forked from the parent's (anon_vma_fork()), so it is a
// fork child (VMA.Forked). Shared mappings share their objects with the
// parent: a store through either reaches both. The child shares m's
// identity allocator and objects, so the two may be used in any order.
func (m *Model) Fork() *Model {
	c := &Model{cfg: m.cfg, ids: m.ids, mem: contents{
		priv: map[uint64]*page{},
		lazy: maps.Clone(m.mem.lazy),
		objs: m.mem.objs,
	}}
	for _, v := range m.vmas {
		if v.Flags&VMDontCopy != 0 {
			c.mem.dropPrivate(v.Start, v.End)
			continue
		}
		v.Flags &^= VMLocked // vm_flags_clear(tmp, VM_LOCKED_MASK)
		if v.Flags&VMWipeOnFork != 0 {
			v.AnonID, v.Forked = 0, false
			c.mem.dropPrivate(v.Start, v.End)
		} else {
			for a := v.Start; a < v.End; a += PageSize {
				if p := m.mem.priv[a]; p != nil {
					cp := *p
					c.mem.priv[a] = &cp
				}
			}
			if v.AnonID != 0 {
				v.AnonID, v.Forked = m.newAnonID(), true
			}
		}
		c.vmas = append(c.vmas, v)
	}
	return c
}
