// Package model is the sequential reference model of Linux's address-space
// layout: what mmap, munmap, mprotect, mremap and madvise do to the list of
// VMAs of one process, and what loads and stores then see. It is the
// executable specification that package mmap (the concurrent simulator)
// and the real kernel are both checked against.
//
// # The story
//
// A Model is a sorted slice of VMA values plus the bytes of the pages that
// have been written. Each syscall method runs the checks of its Linux
// counterpart in the kernel's order — so that when several errors apply,
// the one Linux reports is the one returned — and then edits the slice the
// way mm/vma.c does: split a VMA at a boundary, merge a range with a
// compatible neighbour, insert, remove. Every rule names the kernel
// function it mirrors.
//
// The reference is Linux 6.18 on x86-64 with 4 KiB pages, 47-bit user
// space, no ASLR, the default sysctls (mmap_min_addr 65536 — the kernel
// default — and max_map_count 65530) and an unprivileged caller. The tests
// in this package run thousands of random calls against the real kernel
// of the machine they run on (package kernel) and compare errno, result,
// /proc/self/maps, the hidden VmFlags of /proc/self/smaps and page contents
// after every call.
//
// # What decides merging
//
// Two VMAs that touch merge when everything Linux compares is equal: the
// protection, sharing, the hidden vm_flags (VMA.Flags: VM_GROWSDOWN,
// VM_SEQ_READ / VM_RAND_READ, VM_DONTCOPY, VM_DONTDUMP, VM_WIPEONFORK,
// VM_HUGEPAGE / VM_NOHUGEPAGE from madvise, VM_ACCOUNT for private
// writable memory, VM_NORESERVE), the file (the same open file description; every
// MAP_SHARED|MAP_ANONYMOUS mmap is its own shmem object), a contiguous
// page offset (private anonymous memory takes its creation address >> 12
// as its offset and keeps it when a faulted VMA is moved), and compatible
// anon_vmas (VMA.AnonID: one side without, or both the same). A write
// fault gives a private VMA an anon_vma, reusing a compatible neighbour's
// (Touch, Store). Merges happen when a range is created (mmap, mremap's
// copy or in-place growth) or changed (mprotect, madvise flags) — never
// spontaneously: an mprotect that changes nothing does not merge.
//
// Several of these rules surprise people; each is checked against the
// kernel by the differential test:
//   - VM_ACCOUNT is invisible in /proc/pid/maps but splits VMAs: a private
//     writable mapping that is made read-only keeps it once faulted, so it
//     will not merge with a never-writable neighbour. MAP_NORESERVE,
//     MAP_STACK (VM_NOHUGEPAGE) and MAP_SYNC on anonymous memory
//     (VM_SYNC) are hidden flags too.
//   - A write fault on a private file page beyond EOF raises SIGBUS but
//     still gives the VMA an anon_vma (do_cow_fault() prepares it first).
//   - A fault (or a /proc/pid/mem access) in the gap below a
//     MAP_GROWSDOWN VMA grows it, and gives it an anon_vma even when the
//     access is then refused.
//   - mprotect and madvise apply to the VMAs before a failure and keep a
//     split made before a failed second split; madvise skips holes
//     (ENOMEM at the end), mprotect stops at the first hole or at a VMA
//     that refuses the protection (EACCES).
//   - madvise turns a failed split (ENOMEM) into EAGAIN.
//   - MADV_WIPEONFORK is EINVAL on shared anonymous memory (it has a
//     shmem file) as on any file mapping; MADV_HUGEPAGE and
//     MADV_NOHUGEPAGE set their flag on every kind of mapping, each
//     clearing the other.
//   - MADV_POPULATE_READ needs VM_READ: a PROT_WRITE-only or
//     PROT_EXEC-only mapping, readable on x86, is EINVAL.
//   - MAP_SHARED_VALIDATE on anonymous memory is EINVAL; on a file with
//     MAP_FIXED_NOREPLACE it is EOPNOTSUPP (not in LEGACY_MAP_MASK).
//   - MAP_SYNC on a file without DAX is EOPNOTSUPP from the filesystem's
//     mmap_prepare, which runs after the old range was zapped: a failed
//     MAP_FIXED|MAP_SYNC leaves a hole where the old mappings were.
//   - Without a valid map type (neither MAP_SHARED nor MAP_PRIVATE), the
//     placement errors (ENOMEM, EPERM, EEXIST) still win over EINVAL.
//   - A hint below mmap_min_addr is raised to it and then honoured if free.
//   - Placement near a stack: top-down search takes the highest free range
//     by the VMAs' real extents; if the VMA above it is MAP_GROWSDOWN and
//     the range reaches into its stack_guard_gap (256 pages), it searches
//     again below the guard gap's start, passing over any free range
//     between another VMA and the stack (mm/vma.c:
//     unmapped_area_topdown()). Bottom-up search likewise resumes above
//     the stack.
//   - MAP_POPULATE write-faults every page of a private writable mapping
//     (FOLL_WRITE "to break COW"): a file mapping gets private copies and
//     no longer sees the file's later writes. With MAP_NONBLOCK it
//     populates nothing.
//   - mremap: a shrink or same-size call without a new address checks
//     nothing beyond the first VMA (it may unmap across VMAs and holes);
//     an MREMAP_FIXED move without resize may span several VMAs (Linux
//     6.17+), keeping the gaps, and only a hole at the start is EFAULT;
//     growing a shared anonymous mapping leaves the new tail beyond its
//     shmem object, so touching it raises SIGBUS; MREMAP_DONTUNMAP of a
//     whole VMA takes its anon_vma away (so it can then merge with a
//     neighbour that has another) but, on 6.18, not its VM_ACCOUNT.
//   - The map-count limit: mmap fails when the count already exceeds it
//     (so it can reach max+1); splits for munmap, MAP_FIXED, mprotect and
//     madvise fail at the limit; MREMAP_FIXED and MREMAP_DONTUNMAP fail
//     from max-5 on, any other move from max-3 on.
//
// # Contents
//
// Anonymous memory is modelled fully: private pages read zero until
// written, MADV_DONTNEED zaps them back to zero, mremap moves them,
// MREMAP_DONTUNMAP leaves the old private range mapped but empty, shared
// anonymous memory stays shared between its mappings (including a
// duplicate made by mremap with old_len 0), munmap forgets private pages.
// File mappings are modelled with a page cache per File.ID that only the
// model's own stores write: shared mappings write it, private mappings
// copy a page on their first write fault (Store, Touch, MAP_POPULATE),
// and pages at or beyond the end of the file raise SIGBUS (EIO). Pages
// freed with MADV_FREE keep their contents in the model; LazyFree reports
// that the real kernel may have dropped them.
//
// # Intentional differences from Linux
//
//   - Transparent huge pages: Linux aligns a no-hint anonymous private
//     mapping whose length is a multiple of 2 MiB to a 2 MiB boundary
//     (mm/mmap.c: __get_unmapped_area() → thp_get_unmapped_area_vmflags(),
//     which searches for length+2 MiB), and may do the same for files whose
//     filesystem provides thp_get_unmapped_area. The model places every
//     mapping at the top of the gap: vmsim has only 4 KiB pages.
//   - Privilege: the model's process lacks CAP_SYS_RAWIO, so MAP_FIXED
//     below MinAddr is EPERM. (A root process may map there.)
//   - Memory accounting: the model never fails for lack of memory
//     (overcommit, RLIMIT_AS); Linux may return ENOMEM for huge private
//     writable mappings. RLIMIT_MEMLOCK is modelled (Config.MemlockLimit):
//     MAP_LOCKED sets VMLocked, is EPERM without the right to lock and
//     EAGAIN past the limit, and populates the mapping even with
//     MAP_NONBLOCK; mremap growth of a locked VMA is checked (EAGAIN) and
//     populated; a locked private VMA made writable is populated;
//     madvise DONTNEED, FREE, COLD and PAGEOUT are EINVAL on it.
//   - Not modelled, accepted and ignored: MAP_HUGETLB, MAP_32BIT.
//     MAP_DROPPABLE (map type 8) is EINVAL in the model. READ_IMPLIES_EXEC
//     personalities, memory protection keys, mseal, userfaultfd,
//     and mlock/munlock/mlockall (only MAP_LOCKED locks) are out of
//     scope.
//   - Fork (Model.Fork, fork.go) copies the layout as dup_mmap() does
//     (VM_DONTCOPY left out, VM_WIPEONFORK empty, VM_LOCKED dropped) and
//     the private pages; the models of one family share their files' and
//     shmem objects' pages. A VMA copied with an anon_vma gets a new one
//     and is a fork child (VMA.Forked), which changes merging: it
//     shares its anon_vma with no neighbour that has none, and no
//     neighbour reuses it. Linux's reuse of an idle anon_vma of the chain
//     (anon_vma_clone()) is not modelled: it needs a process that has
//     exited, whose anon_vmas the model does not track.
//   - Files: a File is a regular file on a local filesystem like ext4 —
//     readable, mapped with PROT_EXEC allowed (no noexec mount), MAP_SYNC
//     accepted by MAP_SHARED_VALIDATE but refused without DAX.
//   - madvise implements MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED,
//     DONTNEED and FREE; the flag advices MADV_DONTFORK/DOFORK,
//     DONTDUMP/DODUMP, WIPEONFORK/KEEPONFORK (private anonymous memory
//     only) and HUGEPAGE/NOHUGEPAGE, which split and merge like
//     mprotect; MADV_COLD and MADV_PAGEOUT as no-ops; and
//     MADV_POPULATE_READ/WRITE, which fault every page and stop at the
//     first hole (ENOMEM), VMA without the permission (EINVAL) or
//     SIGBUS (EFAULT). Every other advice, including ones Linux accepts
//     (MADV_REMOVE, MADV_MERGEABLE, MADV_DONTNEED_LOCKED, MADV_COLLAPSE,
//     MADV_GUARD_INSTALL, ...), is EINVAL.
//   - Load and Store need PROT_READ and PROT_WRITE; x86 hardware also
//     lets PROT_WRITE or PROT_EXEC pages be read.
//   - File size is fixed: there is no truncate, and writes through other
//     paths (write(2), other processes) are not seen.
//   - The map count is the model's VMA count; a real process has other
//     VMAs (its binary, libraries, stack, vdso) that count too.
package model
