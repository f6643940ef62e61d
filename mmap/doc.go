// Package mmap is a simulated Linux x86-64 process address space: the
// syscalls that change it, the threads that access it, and the checks
// that prove it consistent.
//
// An AddressSpace holds a tree of VMAs published under RCU, a four-level
// page table with split leaf locks, and a pool of physical frames that are
// poisoned (0x6b6b6b6b6b6b6b6b) when freed and reused at once. Mmap,
// Munmap, Mprotect, Mremap and Madvise follow Linux (mm/mmap.c, mm/vma.c,
// mm/mprotect.c, mm/mremap.c, mm/madvise.c) down to the errno, returned as
// an Errno that errors.Is matches against itself and against the
// syscall.Errno of the same number. A failed call changes nothing, except
// where Linux applies part of a call (mprotect and madvise over a hole).
// Madvise implements the advice values Linux 6.18 accepts on these
// mappings except for features vmsim lacks (see Madvise): the readahead
// and fork/dump/huge-page flags, which split and merge VMAs, DONTNEED,
// FREE, the no-ops WILLNEED, COLD and PAGEOUT, and POPULATE_READ/WRITE.
//
// A Thread is one simulated CPU: it owns a TLB and an RCU reader. Its
// loads and stores go through the TLB, then the page table, then the fault
// handler of package fault, and a bad access returns a *SignalError with
// SIGSEGV or SIGBUS and Linux's si_code. Every syscall that removes or
// downgrades translations zaps them under the page-table locks, shoots down
// every thread's TLB (waiting for accesses in flight), and only then frees
// frames and returns: until it returns other threads may still use stale
// translations, after it returns none can. A load, store or fault just
// below a MAP_GROWSDOWN VMA grows it down to the page, within the stack
// guard gap, Config.StackLimit (RLIMIT_STACK) and MinAddr, as Linux 6.5+
// does. MapLocked makes VM_LOCKED mappings, counted against
// Config.MemlockLimit (RLIMIT_MEMLOCK) and populated, with the effects
// on mprotect, mremap and madvise that Linux 6.18 gives them; mlock(2)
// itself is not simulated.
//
// Fork is fork(2): the child gets a copy of the layout and its own page
// tables on the same Memory (physical memory shared by address spaces),
// private pages are shared copy-on-write and copied or reused on the
// first write (do_wp_page), and the anon_vma chains that make the
// reverse map are kept, so Check verifies it in parent and child
// (fork.go).
//
// Three locking policies (Config.Policy) run the same workload; Quirks
// (Config.Quirks) deliberately break one rule each. Check verifies every
// invariant; Stats reports counters under /proc/vmstat names; WriteMaps
// writes /proc/pid/maps.
//
// Lock order: the mmap lock, then per-VMA write marks, then page-table
// leaf locks (in address order), then frame-pool and page-cache locks. A
// thread's access holds nothing but its own "active" flag, so a shootdown
// never waits for a lock a thread could hold.
package mmap
