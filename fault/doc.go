// Package fault is the page-fault handler of vmsim and the contract with
// what backs a mapping.
//
// # The contract
//
// A mapping's backing implements Ops (Linux's vm_operations_struct): Fault
// is the slow path, called with the VMA pinned and allowed to sleep; the
// optional PageMapper.MapPages is the fast path (->map_pages), called
// inside an RCU read-side section with no reference on the VMA, which maps
// only pages it has at hand and returns Retry rather than block. Both
// install through VMFault.MapPage or by returning a page, and the handler
// re-checks under the page-table lock that the VMA is still attached before
// any PTE goes in — so no PTE can outlive the munmap that detached its VMA.
//
// Built-in backings: private anonymous memory (no backing object: a read
// maps the shared zero frame, a write allocates), and File, an in-memory
// file with a page cache (MapPages maps cached pages; Fault does the
// "I/O", sleeping FileOptions.MissLatency, with concurrent misses on one
// page sharing one read). Shared anonymous memory is a File made by
// NewShmem.
//
// # The handler and its three policies
//
// MM.Handle resolves one fault by the configured Policy:
//
//   - PolicyRCURefcount (Wilcox, December 2019): look the VMA up under RCU,
//     check the access, try MapPages with no reference; if that would
//     block, TryGet a reference (failing on a detached VMA, which sends
//     the fault back to the lookup), leave RCU, call Fault, install, drop
//     the reference. After Config.MaxRetries lockless attempts, or
//     whenever the lookup finds no VMA, fall back to the mmap read lock.
//   - PolicyMmapLock (Linux before 6.4): the mmap lock is read-held from
//     lookup to install.
//   - PolicyPerVMALock (Linux 6.4+): lock_vma_under_rcu takes the VMA's
//     read lock (vm_refcnt, and vm_lock_seq against mm_lock_seq); writers
//     mark the VMAs they change and wait for their readers; a refused read
//     lock, or a fault that asks to be retried, falls back to the mmap
//     lock.
//
// A fault that finds no VMA, once under the mmap lock (where every
// policy's lockless path falls back to), grows a VM_GROWSDOWN VMA just
// above the address if the MM's Owner allows it (Owner.ExpandStack; Linux
// 6.5+ lock_mm_and_find_vma() → expand_stack_locked()), and retries.
//
// Counters records every path taken, under /proc/vmstat names where Linux
// has them. Quirks deliberately break one rule each, so that examples can
// show the failure and tests can prove they would catch it.
package fault
