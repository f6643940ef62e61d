package mmap_test

// Shared pieces of the concurrency tests: the detectors every workload
// uses (so that the quirk tests in quirks_test.go run exactly the check
// the normal tests run), value encodings that can never be mistaken for
// poison or for another round's data, and small builders.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// poison is the word every freed frame is filled with (pgtable.Poison). A
// read that returns it is a use after free: no test ever stores it.
const poison uint64 = 0x6b6b6b6b6b6b6b6b

// arenaBase is where the concurrency tests map with MAP_FIXED: far from
// the top-down area, page- and leaf-aligned.
const arenaBase uint64 = 0x2000_0000

// val is the word a test expects at page p in generation (round) g: a tag
// in the top bits so that it is never zero, never poison, and never
// another round's or page's value.
func val(g, p uint64) uint64 { return 0xC0DE<<48 | (g&0xffff_ffff)<<12 | p&0xfff }

// outcome classifies an access's error the way the rules talk about it.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var se *mmap.SignalError
	if !errors.As(err, &se) {
		return "error(" + err.Error() + ")"
	}
	switch {
	case se.Signo == mmap.SIGSEGV && se.Code == mmap.SegvMaperr:
		return "maperr"
	case se.Signo == mmap.SIGSEGV && se.Code == mmap.SegvAccerr:
		return "accerr"
	case se.Signo == mmap.SIGBUS:
		return "sigbus"
	}
	return "signal(" + se.Error() + ")"
}

// describe names a value read for a violation message.
func describe(v uint64) string {
	if v == poison {
		return "POISON (use after free)"
	}
	return fmt.Sprintf("%#x", v)
}

// violations collects broken rules from many goroutines. It keeps the
// first few messages and counts all of them.
type violations struct {
	mu    sync.Mutex
	n     int
	first []string
	kinds map[string]int
	total atomic.Int64 // == n, readable without mu
}

const keepViolations = 8

// add records one broken rule. kind groups violations for the summary
// ("poison", "stale-after-return", ...).
func (vs *violations) add(kind, format string, args ...any) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	vs.n++
	vs.total.Add(1)
	if vs.kinds == nil {
		vs.kinds = make(map[string]int)
	}
	vs.kinds[kind]++
	if len(vs.first) < keepViolations {
		vs.first = append(vs.first, kind+": "+fmt.Sprintf(format, args...))
	}
}

// count returns the number of violations recorded so far.
func (vs *violations) count() int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.n
}

// flooded reports, without locking, whether so many violations were seen
// that a workload may stop early: a broken rule seen this often needs no
// more evidence.
func (vs *violations) flooded() bool { return vs.total.Load() >= 1000 }

// has reports whether a violation of kind was recorded.
func (vs *violations) has(kind string) bool {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.kinds[kind] > 0
}

// summary gives the count per kind and the first violation.
func (vs *violations) summary() string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.n == 0 {
		return "no violations"
	}
	return fmt.Sprintf("%d violations %v, first: %s", vs.n, vs.kinds, vs.first[0])
}

// String summarises the violations: counts per kind and the first messages.
func (vs *violations) String() string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.n == 0 {
		return "no violations"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d violations %v", vs.n, vs.kinds)
	for _, m := range vs.first {
		b.WriteString("\n\t")
		b.WriteString(m)
	}
	return b.String()
}

// checkAS runs the address space's invariant check as a detector: a
// failure is a violation of kind "check", not a test abort, so quirk tests
// can count on it.
func checkAS(as *mmap.AddressSpace, vs *violations, when string) {
	if err := as.Check(); err != nil {
		vs.add("check", "Check %s: %v", when, err)
	}
}

// newAS returns an address space for cfg, closed when the test ends
// (threads left open included), after which its frame census must be
// exact: Check skips the census while a fault runs, so a frame leaked
// under load shows only here. With quirks, which break the rules on
// purpose (QuirkNoDetachCheck leaks the frames of the PTEs it installs
// in detached VMAs), it is only closed.
func newAS(t testing.TB, cfg mmap.Config) *mmap.AddressSpace {
	t.Helper()
	as, err := mmap.New(cfg)
	require.NoError(t, err)
	if cfg.Quirks != 0 {
		t.Cleanup(func() { _ = as.Close() })
	} else {
		t.Cleanup(func() { closeCensus(t, as) })
	}
	return as
}

// closeCensus closes as and fails t unless every frame is back in the
// pool.
func closeCensus(t testing.TB, as *mmap.AddressSpace) {
	t.Helper()
	if err := as.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := as.Stats().FramesInUse; n != 0 {
		t.Errorf("%d frames in use after Close: leaked", n)
	}
}

// fileOf returns a file of pages pages whose word 0 of page p is word(p),
// with the given page-cache miss latency.
func fileOf(name string, pages int, word func(p uint64) uint64, latency time.Duration) *mmap.File {
	data := make([]byte, pages*mmap.PageSize)
	for p := range pages {
		binary.LittleEndian.PutUint64(data[p*mmap.PageSize:], word(uint64(p)))
	}
	return mmap.NewFile(name, data, mmap.FileOptions{MissLatency: latency})
}

// policies lists the three locking policies.
var policies = []mmap.Policy{mmap.PolicyRCURefcount, mmap.PolicyMmapLock, mmap.PolicyPerVMALock}

// waitFor yields until cond holds or limit passes, and reports whether it
// held. It paces a coordinator against its threads; no test asserts on
// time. It never sleeps: a goroutine woken from a sleep may be queued
// behind a reader that spins without yielding, and wait there for a whole
// preemption tick, while one that yields goes to the global queue, which
// the other CPU serves.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}
