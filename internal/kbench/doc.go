// Package kbench measures the real Linux kernel for vmsim's benchmarks, so
// that every simulator figure can be printed next to the kernel's, taken in
// the same run on the same machine.
//
// The story of one comparison: a benchmark in package mmap runs the
// simulator's operation, then its "kernel" sub-benchmark runs the same
// operation as a raw system call in a private region of the test process:
// Mmap and Munmap of one page (Mmap, Munmap), an mprotect that splits a
// mapping and one that merges it back (Mprotect), first-touch faults on
// fresh anonymous memory (MapRegion, then Region.ReadPage or
// Region.WritePage on each page once) or on a cached file (MapFile). Fill
// pre-loads the process with many real VMAs, as the simulator's address
// space is pre-loaded, within the limit MaxMapCount reports and MapCount
// shows in use. ThreadFaults and ProcessFaults read the kernel's own fault
// counters (getrusage ru_minflt, ru_majflt), so that a benchmark can check
// that it really measured one fault per touched page.
//
// Safety: every mapping this package makes is placed by the kernel
// (never MAP_FIXED over memory it did not create), so nothing of the Go
// runtime's can be replaced; Region.Unmap and Filler.Close unmap exactly
// what was mapped. Anonymous regions are madvised MADV_NOHUGEPAGE, so that a
// fault maps one 4 KiB page, as in the simulator, not a transparent huge
// page.
//
// On systems other than Linux every function returns ErrUnsupported and the
// benchmarks skip their kernel side: nothing is faked.
package kbench
