package model

import "maps"

// page is the contents of one 4 KiB page.
type page [PageSize]byte

// objKey names a backing object: a shmem object (shared anonymous memory)
// or a file's page cache.
type objKey struct {
	file bool // a File.ID if true, a VMA.Shm id if false
	id   int
}

// object is the page cache of a file or the pages of a shmem object,
// indexed by page offset. Pages never written read as zero.
type object struct {
	pages map[uint64]*page
	size  uint64 // shmem objects only: bytes; files use File.Size
}

// contents holds every byte the model remembers.
//
// Private mappings (anonymous, and copy-on-write copies of file pages)
// keep their pages in priv, keyed by virtual page address: they move with
// mremap and vanish with munmap or MADV_DONTNEED. Shared mappings read and
// write their object's pages, which outlive any one mapping.
type contents struct {
	priv map[uint64]*page
	// lazy marks private pages freed with MADV_FREE and not written since:
	// the kernel may have reclaimed them, so a read may see zero.
	lazy map[uint64]bool
	objs map[objKey]*object
}

func newContents() contents {
	return contents{priv: map[uint64]*page{}, lazy: map[uint64]bool{}, objs: map[objKey]*object{}}
}

func (c contents) clone() contents {
	n := contents{priv: make(map[uint64]*page, len(c.priv)), lazy: maps.Clone(c.lazy), objs: make(map[objKey]*object, len(c.objs))}
	for k, p := range c.priv {
		cp := *p
		n.priv[k] = &cp
	}
	for k, o := range c.objs {
		no := &object{pages: make(map[uint64]*page, len(o.pages)), size: o.size}
		for pk, p := range o.pages {
			cp := *p
			no.pages[pk] = &cp
		}
		n.objs[k] = no
	}
	return n
}

// dropPrivate forgets the private pages of [start, end) (zap_page_range).
func (c contents) dropPrivate(start, end uint64) {
	for a := start; a < end; a += PageSize {
		delete(c.priv, a)
		delete(c.lazy, a)
	}
}

// movePrivate moves the private pages of [from, from+length) to to, as
// mm/mremap.c: move_page_tables() moves their PTEs.
func (c contents) movePrivate(from, to, length uint64) {
	type moved struct {
		p    *page
		lazy bool
	}
	var tmp []struct {
		off uint64
		moved
	}
	for off := uint64(0); off < length; off += PageSize {
		if p, ok := c.priv[from+off]; ok {
			tmp = append(tmp, struct {
				off uint64
				moved
			}{off, moved{p, c.lazy[from+off]}})
		}
	}
	c.dropPrivate(from, from+length)
	c.dropPrivate(to, to+length)
	for _, t := range tmp {
		c.priv[to+t.off] = t.p
		if t.lazy {
			c.lazy[to+t.off] = true
		}
	}
}

// backing returns the object behind a shared or file-backed VMA and the
// number of pages it holds, or nil for private anonymous memory.
func (m *Model) backing(v *VMA) (*object, uint64) {
	var k objKey
	var size uint64
	switch {
	case v.File != nil:
		k = objKey{file: true, id: v.File.ID}
		size = v.File.Size
	case v.Shm != 0:
		k = objKey{id: v.Shm}
	default:
		return nil, 0
	}
	o := m.mem.objs[k]
	if o == nil {
		o = &object{pages: map[uint64]*page{}}
		m.mem.objs[k] = o
	}
	if v.Shm != 0 {
		size = o.size
	}
	return o, pageAlign(size) / PageSize
}

// access resolves a user access at addr: the VMA index, the page offset in
// the backing object, and the errno of the signal a CPU access would raise.
func (m *Model) access(addr uint64, need uint32) (int, *object, uint64, Errno) {
	i := m.fault(addr)
	if i < 0 {
		return -1, nil, 0, EFAULT
	}
	v := &m.vmas[i]
	if v.Prot&need != need {
		return i, nil, 0, EACCES
	}
	o, npages := m.backing(v)
	off := v.Pgoff + (addr-v.Start)/PageSize
	if o != nil && off >= npages {
		// A file or shmem page beyond EOF: filemap_fault()/shmem_fault()
		// return VM_FAULT_SIGBUS.
		return i, nil, 0, EIO
	}
	return i, o, off, 0
}

// Load returns the byte a user-mode read of addr would see. It needs
// PROT_READ (the model does not grant x86's implicit read permission of
// PROT_WRITE or PROT_EXEC pages). Errors stand for signals: EFAULT =
// SIGSEGV/SEGV_MAPERR (unmapped), EACCES = SIGSEGV/SEGV_ACCERR, EIO =
// SIGBUS (beyond the end of the file or shmem object). Load changes no
// state: a read fault maps the zero page or the page cache and allocates
// no anon_vma.
func (m *Model) Load(addr uint64) (byte, Errno) {
	i, o, off, err := m.access(addr, ProtRead)
	if err != 0 {
		return 0, err
	}
	v := &m.vmas[i]
	pa := addr &^ (PageSize - 1)
	if !v.VMShared() {
		if p := m.mem.priv[pa]; p != nil {
			return p[addr-pa], 0
		}
	}
	if o != nil {
		if p := o.pages[off]; p != nil {
			return p[addr-pa], 0
		}
	}
	return 0, 0
}

// LazyFree reports whether the page at addr was freed with MADV_FREE and
// not written since: Load returns its old contents, but Linux may have
// reclaimed it, so a real read may see zero instead.
func (m *Model) LazyFree(addr uint64) bool {
	return m.mem.lazy[addr&^(PageSize-1)]
}

// Store writes b at addr as a user-mode write would. It needs PROT_WRITE;
// errors are as for Load. A store to a private page is a write fault: it
// gives the VMA an anon_vma (see Touch) and makes a private copy of a file
// page.
func (m *Model) Store(addr uint64, b byte) Errno {
	i, o, off, err := m.access(addr, ProtWrite)
	if err == EIO && !m.vmas[i].VMShared() {
		// do_cow_fault() prepares the anon_vma before __do_fault()
		// finds the page beyond EOF: the failed write still leaves one.
		m.anonVMAPrepare(i)
	}
	if err != 0 {
		return err
	}
	v := &m.vmas[i]
	pa := addr &^ (PageSize - 1)
	if v.VMShared() {
		p := o.pages[off]
		if p == nil {
			p = new(page)
			o.pages[off] = p
		}
		p[addr-pa] = b
		return 0
	}
	m.anonVMAPrepare(i)
	m.privatePage(o, off, pa)[addr-pa] = b
	delete(m.mem.lazy, pa)
	return 0
}

// privatePage returns the private page at page address pa of a private
// mapping, making it on the first write fault: a copy of the page-cache
// page at off of the file object o (mm/memory.c: do_cow_fault()), or
// zeroes for anonymous memory, o == nil (do_anonymous_page()).
func (m *Model) privatePage(o *object, off, pa uint64) *page {
	p := m.mem.priv[pa]
	if p == nil {
		p = new(page)
		if o != nil {
			if fp := o.pages[off]; fp != nil {
				*p = *fp
			}
		}
		m.mem.priv[pa] = p
	}
	return p
}

// populate is mm/gup.c: __mm_populate() → populate_vma_page_range() over
// [start, end), which lies inside vmas[i]. A shared or read-only mapping
// is faulted in for reading, which changes nothing the model tracks. A
// private writable one is faulted with FOLL_WRITE "in order to break
// COW": a write fault on every page, so the VMA gets an anon_vma and each
// page of a file becomes a private copy, which later writes to the file
// no longer reach. Pages beyond the end of the file fail (VM_FAULT_SIGBUS)
// and are skipped, since __mm_populate() ignores errors. Anonymous pages
// are not made: fresh zero pages read as absent ones do.
func (m *Model) populate(i int, start, end uint64) {
	if v := &m.vmas[i]; v.Prot&ProtWrite == 0 || v.VMShared() {
		return
	}
	m.anonVMAPrepare(i)
	v := &m.vmas[i]
	o, npages := m.backing(v)
	if o == nil {
		return
	}
	for a := start; a < end; a += PageSize {
		off := v.Pgoff + (a-v.Start)/PageSize
		if off >= npages {
			return // every later page is beyond the end too
		}
		m.privatePage(o, off, a)
	}
}

// Touch records that a page fault happened at addr (mm/memory.c:
// handle_mm_fault()). A fault just below a MAP_GROWSDOWN VMA grows it
// (see fault). A write fault on a private mapping that permits
// writing gives the VMA an anon_vma (do_anonymous_page() and
// do_cow_fault() call anon_vma_prepare()), reusing a compatible
// neighbour's; that identity decides later merges. On a private file
// mapping it also copies the page (do_cow_fault()), so later writes to
// the file are no longer seen there. A read fault, or a fault the
// protection refuses, changes nothing the model tracks.
func (m *Model) Touch(addr uint64, write bool) {
	if !write {
		m.fault(addr)
		return
	}
	i, o, off, err := m.access(addr, ProtWrite)
	if (err != 0 && err != EIO) || m.vmas[i].VMShared() {
		return
	}
	m.anonVMAPrepare(i) // even beyond EOF, as in Store
	if err == 0 && o != nil {
		m.privatePage(o, off, addr&^(PageSize-1))
	}
}

// fault finds the VMA for a fault at addr, growing a MAP_GROWSDOWN VMA
// down to it when addr lies in the gap below one, as
// mm/mmap.c: lock_mm_and_find_vma() → expand_stack_locked() does for a
// CPU fault and expand_stack() for a ptrace (/proc/pid/mem) access. It
// returns the VMA's index, or -1 (SIGSEGV).
func (m *Model) fault(addr uint64) int {
	i := m.findNext(addr)
	if i == len(m.vmas) {
		return -1
	}
	if m.vmas[i].Start <= addr {
		return i
	}
	if m.expandDownwards(i, addr&^(PageSize-1)) != 0 {
		return -1
	}
	return i
}

// expandDownwards is mm/mmap.c: expand_downwards().
func (m *Model) expandDownwards(i int, addr uint64) Errno {
	v := &m.vmas[i]
	if v.Flags&VMGrowsDown == 0 {
		return EFAULT
	}
	if addr < m.cfg.MinAddr {
		return EPERM
	}
	// Enforce stack_guard_gap against an accessible, non-stack neighbour.
	if i > 0 {
		p := &m.vmas[i-1]
		if p.Flags&VMGrowsDown == 0 && p.Prot&protAccess != 0 && addr-p.End < StackGuardGap {
			return ENOMEM
		}
	}
	// "We must make sure the anon_vma is allocated" — before the size
	// checks, so even a refused growth leaves the VMA with an anon_vma.
	m.anonVMAPrepare(i)
	v = &m.vmas[i]
	grow := (v.Start - addr) / PageSize
	if grow > v.Pgoff {
		return ENOMEM
	}
	// acct_stack_growth(): the grown stack must fit RLIMIT_STACK.
	if v.End-addr > m.cfg.StackLimit {
		return ENOMEM
	}
	// acct_stack_growth(): "mlock limit tests"; expand_downwards()
	// counts the growth of a locked stack.
	if !m.mlockFutureOK(v.Flags, grow*PageSize) {
		return ENOMEM
	}
	m.account(v.Flags, grow*PageSize)
	v.Start = addr
	v.Pgoff -= grow
	return 0
}
