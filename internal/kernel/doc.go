// Package kernel runs mmap, munmap, mprotect, mremap and madvise as raw
// system calls against the real Linux kernel, confined to a private window
// of the calling process's address space, so that the kernel can serve as
// the oracle for vmsim's reference model (package model) and simulator
// (package mmap).
//
// The story of one oracle run: Open claims a Window — an address range that
// /proc/self/maps shows to be empty and that neither the Go heap
// (0xc000000000…) nor the kernel's top-down placement (just below the
// stack, 0x7f…) will ever reach. Every call the Harness issues is checked
// before it reaches the kernel: a call that could create, change or destroy
// a mapping outside the window is refused with *RefusedError and never
// issued, because a stray MAP_FIXED, munmap, mprotect or MADV_DONTNEED
// there would corrupt the Go runtime's own memory. The only mappings that
// may appear outside the window are those the kernel itself chose for a
// call without MAP_FIXED (an ignored hint, an mremap that moved); the
// Harness records each one and unmaps exactly those ranges.
//
// Layout is observed through /proc/self/maps (Maps, filtered to the
// window) and contents through /proc/self/mem (Load, Store), never
// by dereferencing a pointer: pread and pwrite on /proc/self/mem return an
// error (EIO) for an unmapped page instead of faulting. Note that they are
// ptrace-style accesses (FOLL_FORCE): a write to a private read-only page
// succeeds by copy-on-write, and a read of a PROT_NONE page succeeds.
// Callers that want user-level access semantics check the protection
// first. A write to a private page through /proc/self/mem is a write fault
// like any other: it allocates the VMA's anon_vma (anon_vma_prepare), which
// affects later VMA merging.
//
// Close unmaps the whole window and every recorded outside mapping.
//
// On systems other than Linux, Open returns ErrUnsupported; nothing is
// faked. ParseMaps works everywhere.
package kernel
