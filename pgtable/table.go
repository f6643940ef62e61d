package pgtable

import (
	"fmt"
	"sync/atomic"

	"github.com/vmsim/vmsim/sched"
)

const (
	// PTEsPerLeaf is the number of entries in one leaf table.
	PTEsPerLeaf = 512
	// LeafSize is the span of addresses one leaf table maps: 2 MiB.
	LeafSize = PTEsPerLeaf * PageSize
	// AddressBits is the width of the addresses a Table translates: four
	// levels of 9 bits over a 12-bit page offset, as x86-64 4-level paging.
	AddressBits = 48
	// AddressLimit is the first address a Table cannot map.
	AddressLimit uint64 = 1 << AddressBits
)

// Shifts of the levels: an address is pgd|pud|pmd|pte|offset, 9+9+9+9+12.
const (
	levelBits = 9
	levelMask = 1<<levelBits - 1
	pmdShift  = PageShift + levelBits // 21: one leaf, 2 MiB
	pudShift  = pmdShift + levelBits  // 30: one pmdTable, 1 GiB
	pgdShift  = pudShift + levelBits  // 39: one pudTable, 512 GiB
)

func pteIndex(a uint64) uint64 { return a >> PageShift & levelMask }
func pmdIndex(a uint64) uint64 { return a >> pmdShift & levelMask }
func pudIndex(a uint64) uint64 { return a >> pudShift & levelMask }
func pgdIndex(a uint64) uint64 { return a >> pgdShift & levelMask }

// nextBoundary returns the first address above a that is a multiple of
// 1<<shift.
func nextBoundary(a uint64, shift uint) uint64 { return (a>>shift + 1) << shift }

// pmdTable is the level above the leaves (Linux's PMD page). Its slots are
// read lock-free and written only under Table.mu.
type pmdTable struct {
	slot [1 << levelBits]atomic.Pointer[Leaf]
}

// pudTable is the second level (Linux's PUD page). Its slots are read
// lock-free and written only under Table.mu.
type pudTable struct {
	slot [1 << levelBits]atomic.Pointer[pmdTable]
}

// Table is a 4-level radix page table over 48-bit addresses with a lock per
// leaf table (Linux's split PTE locks).
//
// Concurrency: Lookup and Range are lock-free and may run at any time.
// Every PTE write happens under the lock of its leaf (LockLeaf, or inside
// Zap, Protect and Move). Tables are published fully built with an atomic
// pointer store, and a freed table is never written again, so a lock-free
// walker that raced with a free reads an empty table: "not mapped". Go's
// garbage collector keeps such a table alive while anyone still holds it,
// which is the job RCU freeing of page tables (tlb_remove_table) does in
// Linux. FreeEmpty needs the caller to exclude other FreeEmpty calls.
//
// Lock order: Table.mu (page_table_lock) before Leaf locks; two Leaf locks
// in ascending address order.
type Table struct {
	// mu is Linux's mm->page_table_lock: it serializes populating interior
	// slots (installing a new table) and unlinking tables (FreeEmpty), so
	// an installer never links a new leaf into a table being unlinked.
	// A sched.Mutex: FreeEmpty takes leaf locks, which are scheduling
	// points, while holding it.
	mu sched.Mutex
	// s controls the table's locks in a controlled run; nil when
	// free-running. Immutable after Bind.
	s *sched.Sched
	// pgd is the root level. Slots are read lock-free, written under mu.
	pgd [1 << levelBits]atomic.Pointer[pudTable]
}

// NewTable returns an empty page table.
func NewTable() *Table { return &Table{} }

// Bind puts t's locks under the control of s (see package sched): taking
// and releasing them become scheduling points. A nil s leaves t
// free-running.
//
// Preconditions: t is empty and unused.
func (t *Table) Bind(s *sched.Sched) {
	t.s = s
	t.mu.Bind(s, "page_table_lock")
}

// Leaf is one leaf page table: PTEsPerLeaf entries mapping LeafSize bytes
// starting at Base(), with its own lock (Linux's split PTE lock,
// pte_lockptr). Get is lock-free; SetLocked needs the lock, obtained from
// Table.LockLeaf and released with Unlock.
type Leaf struct {
	// mu is the split PTE lock. A sched.Mutex: a fault holds it across
	// the scheduling point of its PTE install.
	mu sched.Mutex
	// base is the address mapped by entry 0. Immutable.
	base uint64
	// dead is set, under mu, when FreeEmpty unlinks the leaf. A dead leaf
	// is empty and is never written again. Protected by mu.
	dead bool
	// used counts non-zero entries. Protected by mu.
	used int
	// pte holds the entries. Atomic; written only under mu.
	pte [PTEsPerLeaf]atomic.Uint64
}

// walk returns the leaf covering a, or nil if a level is absent. Lock-free;
// the leaf may be dead. Preconditions: a < AddressLimit.
func (t *Table) walk(a uint64) *Leaf {
	pud := t.pgd[pgdIndex(a)].Load()
	if pud == nil {
		return nil
	}
	pmd := pud.slot[pudIndex(a)].Load()
	if pmd == nil {
		return nil
	}
	return pmd.slot[pmdIndex(a)].Load()
}

// Lookup returns the PTE for addr, or 0 if any level of the table is
// absent or addr >= AddressLimit. It takes no lock and only loads
// atomically, like the hardware walker or gup-fast
// (mm/gup.c: gup_fast_pte_range); the result may be stale as soon as it is
// returned. Safe for concurrent use with everything.
func (t *Table) Lookup(addr uint64) PTE {
	if addr >= AddressLimit {
		return 0
	}
	l := t.walk(addr)
	if l == nil {
		return 0
	}
	return PTE(l.pte[pteIndex(addr)].Load())
}

// LockLeaf returns the leaf covering addr, locked, allocating missing
// levels on the way (Linux pte_offset_map_lock after __pte_alloc). It
// never returns a dead leaf: if FreeEmpty freed the leaf while LockLeaf
// waited for its lock, it walks again. It panics if addr >= AddressLimit
// (a programmer error). Safe for concurrent use; the caller must Unlock.
func (t *Table) LockLeaf(addr uint64) *Leaf {
	if addr >= AddressLimit {
		panic(fmt.Sprintf("pgtable: LockLeaf(%#x) beyond the %d-bit address space", addr, AddressBits))
	}
	for {
		l := t.walk(addr)
		if l == nil {
			l = t.populate(addr)
		}
		if testHookBeforeLeafLock != nil {
			testHookBeforeLeafLock(l)
		}
		l.mu.Lock()
		if !l.dead {
			return l
		}
		// FreeEmpty unlinked it before marking it dead, under this lock,
		// so the next walk will not find it again.
		l.mu.Unlock()
	}
}

// testHookBeforeLeafLock, when set by a test, runs in LockLeaf between
// finding a leaf and locking it: the window in which FreeEmpty can free it.
var testHookBeforeLeafLock func(*Leaf)

// populate allocates whatever levels are missing above and at addr and
// returns the leaf, unlocked (it may be freed again before the caller
// locks it). A new table is fully built before it is published with an
// atomic store, so lock-free walkers never see a half-built table. Compare
// mm/memory.c: __pte_alloc() and pmd_install().
func (t *Table) populate(addr uint64) *Leaf {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Walk again from the root under mu: a lock-free walk may have passed
	// through a table that FreeEmpty has since unlinked.
	pudSlot := &t.pgd[pgdIndex(addr)]
	pud := pudSlot.Load()
	if pud == nil {
		pud = new(pudTable)
		pudSlot.Store(pud)
	}
	pmdSlot := &pud.slot[pudIndex(addr)]
	pmd := pmdSlot.Load()
	if pmd == nil {
		pmd = new(pmdTable)
		pmdSlot.Store(pmd)
	}
	leafSlot := &pmd.slot[pmdIndex(addr)]
	l := leafSlot.Load()
	if l == nil {
		l = &Leaf{base: addr &^ (LeafSize - 1)}
		l.mu.Bind(t.s, "ptl")
		leafSlot.Store(l)
	}
	return l
}

// Unlock releases the leaf's lock. Preconditions: l is locked (by
// LockLeaf).
func (l *Leaf) Unlock() { l.mu.Unlock() }

// Base returns the address mapped by entry 0. Immutable; safe for
// concurrent use.
func (l *Leaf) Base() uint64 { return l.base }

// index returns the entry for addr, panicking if the leaf does not cover it.
func (l *Leaf) index(addr uint64) uint64 {
	if addr-l.base >= LeafSize {
		panic(fmt.Sprintf("pgtable: address %#x outside leaf [%#x, %#x)", addr, l.base, l.base+LeafSize))
	}
	return pteIndex(addr)
}

// Get atomically loads the entry for addr, with or without the lock.
// Without the lock the value may be stale as soon as it is returned. It
// panics if the leaf does not cover addr.
func (l *Leaf) Get(addr uint64) PTE { return PTE(l.pte[l.index(addr)].Load()) }

// SetLocked atomically stores e as the entry for addr (Linux
// set_pte_at). It does not touch frame reference counts: the caller
// transfers a reference into the entry (and out of the entry it
// overwrites). It panics if the leaf does not cover addr, or if l is
// visibly unlocked.
//
// Preconditions: l is locked (by LockLeaf).
func (l *Leaf) SetLocked(addr uint64, e PTE) {
	i := l.index(addr)
	if !l.mu.Held() {
		panic("pgtable: Leaf.SetLocked without the leaf lock")
	}
	slot := &l.pte[i]
	if old := slot.Load(); old == 0 && e != 0 {
		l.used++
	} else if old != 0 && e == 0 {
		l.used--
	}
	slot.Store(uint64(e))
}
