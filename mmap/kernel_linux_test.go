//go:build linux

package mmap_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kernel"
	"github.com/vmsim/vmsim/internal/model"
	"github.com/vmsim/vmsim/mmap"
)

// The real kernel as the oracle: random sequences of calls run on an
// AddressSpace and, as raw system calls, in a private window of this test
// process (internal/kernel), compared after every call with
// /proc/self/maps (start, end, permissions including p/s, offset, path),
// the hidden VmFlags of /proc/self/smaps, the errno, and the contents of
// every readable page of the window (through an mmap.Thread on one side
// and /proc/self/mem on the other). The AddressSpace uses the kernel
// window's own addresses, so no translation is needed; both sides place
// hint-less mappings far outside the window (their top-down areas), where
// only "outside in both" is compared and the mapping is unmapped again.
//
// VMSIM_KERNEL_SEED=<n> replays one sequence; VMSIM_KERNEL_CALLS sets the
// calls per policy.

// randSource feeds the generator from math/rand.
type randSource struct{ r *rand.Rand }

func (s randSource) intn(n int, _ string) int {
	if n <= 1 {
		return 0
	}
	return s.r.IntN(n)
}

// kernelFile is one open file description on both sides.
type kernelFile struct {
	sim  *mmap.File
	fd   int
	path string
}

// simKernel drives an AddressSpace and the kernel window in lockstep.
type simKernel struct {
	t     *testing.T
	h     *kernel.Harness
	as    *mmap.AddressSpace
	th    *mmap.Thread
	base  uint64
	files []kernelFile
	osf   []*os.File
	// freed marks pages ever advised MADV_FREE: the kernel may reclaim
	// them (they then read zero) where the simulator, which has no memory
	// pressure, keeps them, as Linux does until reclaim.
	freed map[uint64]bool
	hist  []string
	calls int
	kinds map[string]int
	// advices counts the madvise calls compared by "advice:errno".
	advices map[string]int
	bytes   int // bytes read and compared
	// growAt is the address of the access being compared when it lies
	// in the gap below a MAP_GROWSDOWN VMA, where it tries to grow the
	// stack (nil otherwise); stackTried and stackGrown count such
	// accesses and those that grew it.
	growAt                 *uint64
	stackTried, stackGrown int
}

// kernelWindowPages is the part of the window the calls aim at.
const kernelWindowPages = 64

func kernelAvailable(t *testing.T) {
	t.Helper()
	major, minor, err := kernel.Release()
	if err != nil {
		t.Skipf("no kernel to compare with: %v", err)
	}
	if major < 6 || major == 6 && minor < 18 {
		t.Skipf("kernel %d.%d is older than the 6.18 vmsim follows; not comparing", major, minor)
	}
}

func newSimKernel(t *testing.T, pol mmap.Policy) *simKernel {
	t.Helper()
	kernelAvailable(t)
	h, err := kernel.OpenAny(1 << 30)
	if err != nil {
		t.Fatalf("kernel window: %v", err)
	}
	// The kernel grows a stack up to this process's RLIMIT_STACK
	// (acct_stack_growth()), which need not be the default 8 MiB.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil {
		t.Fatal(err)
	}
	stackLimit := rl.Cur // RLIM_INFINITY is ^0: no limit, on both sides
	if stackLimit == 0 {
		stackLimit = 1 // 0 would mean the default; one byte refuses every growth, as 0 does
	}
	as, err := mmap.New(mmap.Config{Policy: pol, StackLimit: stackLimit, MemlockLimit: kernelMemlockLimit(t)})
	if err != nil {
		t.Fatal(err)
	}
	k := &simKernel{t: t, h: h, as: as, th: as.NewThread(), base: h.Window().Base, freed: map[uint64]bool{}, kinds: map[string]int{},
		advices: map[string]int{}}
	// The same files as the model tests (newDiffFiles), with contents
	// this time: the kernel reads them from disk, the simulator from its
	// in-memory copy.
	dir := t.TempDir()
	mk := func(name string, size int, seed byte) *mmap.File {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7) ^ seed
		}
		path := dir + "/" + name
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return mmap.NewFile(path, data, mmap.FileOptions{})
	}
	f1 := mk("f1", 8*pg+100, 0x5a)
	f2 := mk("f2", 4*pg, 0xa5)
	for _, f := range []struct {
		sim  *mmap.File
		mode int
	}{{f1, os.O_RDWR}, {f1.OpenReadOnly(), os.O_RDONLY}, {f2, os.O_RDWR}} {
		of, err := os.OpenFile(f.sim.Name(), f.mode, 0)
		if err != nil {
			t.Fatal(err)
		}
		k.osf = append(k.osf, of)
		k.files = append(k.files, kernelFile{sim: f.sim, fd: int(of.Fd()), path: f.sim.Name()})
	}
	return k
}

func (k *simKernel) close() {
	k.th.Close()
	k.as.Close()
	if err := k.h.Close(); err != nil {
		k.t.Errorf("closing the kernel window: %v", err)
	}
	for _, f := range k.osf {
		f.Close()
	}
}

func (k *simKernel) rel(a uint64) string {
	if a >= k.base && a < k.base+1<<30 {
		return fmt.Sprintf("W+%#x", a-k.base)
	}
	return fmt.Sprintf("%#x", a)
}

func (k *simKernel) failf(format string, args ...any) {
	k.t.Helper()
	var b strings.Builder
	start := max(0, len(k.hist)-30)
	for _, h := range k.hist[start:] {
		fmt.Fprintf(&b, "  %s\n", h)
	}
	b.WriteString("simulator:\n")
	for _, m := range k.simWindow() {
		fmt.Fprintf(&b, "  %s-%s %v shared=%v off=%#x %s\n", k.rel(m.Start), k.rel(m.End), m.Prot, m.Shared, m.Offset, m.Name)
	}
	b.WriteString("kernel:\n")
	if ms, err := k.h.Smaps(); err == nil {
		for _, m := range ms {
			fmt.Fprintf(&b, "  %s-%s %s %#x %s [%s]\n", k.rel(m.Start), k.rel(m.End), m.Perms, m.Offset, m.Path, strings.Join(m.VmFlags, " "))
		}
	}
	k.t.Fatalf("call #%d: %s\nlast calls:\n%s", k.calls, fmt.Sprintf(format, args...), b.String())
}

// kernelErr turns a harness error into an errno; a refused call is a bug
// in the test (it would have touched memory outside the window).
func (k *simKernel) kernelErr(err error) syscall.Errno {
	k.t.Helper()
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	k.failf("kernel harness: %v", err)
	return 0
}

func (k *simKernel) compareErrno(what string, serr error, ke syscall.Errno) {
	k.t.Helper()
	if ke == 0 && serr == nil {
		return
	}
	if ke == 0 || serr == nil || !errors.Is(serr, ke) {
		k.failf("%s: errno simulator %s, kernel %s", what, errName(serr), model.Errno(ke).Name())
	}
}

// compareResult compares an address result: inside the window it must
// be equal; outside (an ignored hint, a move to the top-down area) it
// must be outside in both, and the mapping is unmapped on both sides.
func (k *simKernel) compareResult(what string, sr uint64, serr error, kr uint64, ke syscall.Errno, length uint64) {
	k.t.Helper()
	k.compareErrno(what, serr, ke)
	if ke != 0 {
		return
	}
	w := k.h.Window()
	if w.Contains(sr, 1) || w.Contains(kr, 1) {
		if sr != kr {
			k.failf("%s: result simulator %s, kernel %s", what, k.rel(sr), k.rel(kr))
		}
		return
	}
	if err := k.h.ReleaseOutside(); err != nil {
		k.t.Fatal(err)
	}
	if err := k.as.Munmap(sr, length); err != nil {
		k.t.Fatalf("munmap of the simulator's outside mapping %#x: %v", sr, err)
	}
}

// simWindow returns the simulator's mappings that overlap the window.
func (k *simKernel) simWindow() []mmap.Mapping {
	w := k.h.Window()
	var out []mmap.Mapping
	for _, m := range k.as.Mappings() {
		if w.Overlaps(m.Start, m.End) {
			out = append(out, m)
		}
	}
	return out
}

// growsInto reports whether an access at a would fault in the gap below
// a MAP_GROWSDOWN VMA, where the kernel and the simulator try to grow the
// stack.
func (k *simKernel) growsInto(a uint64) bool {
	for _, h := range k.as.VMAStates() {
		if h.End > a {
			return h.Start > a && h.GrowsDown
		}
	}
	return false
}

// growKernel makes the kernel try the stack growth that the simulator's
// refused access at a (SEGV_ACCERR) made: a /proc/self/mem read grows a
// stack as a fault does (mm/memory.c: __access_remote_vm() →
// expand_stack()), and it must succeed, since the simulator grew it.
func (k *simKernel) growKernel(a uint64) {
	k.t.Helper()
	if k.growAt == nil {
		return
	}
	if _, kerr := k.h.Load(a); k.kernelErr(kerr) != 0 {
		k.failf("access %s below a stack: the simulator grew it, the kernel read %s", k.rel(a), model.Errno(k.kernelErr(kerr)).Name())
	}
}

func (k *simKernel) do(o op) {
	k.t.Helper()
	k.calls++
	k.hist = append(k.hist, k.describe(o))
	k.kinds[opNames[o.kind]]++
	switch o.kind {
	case opMmap:
		var sf *mmap.File
		fd := -1
		if o.file >= 0 {
			sf, fd = k.files[o.file].sim, k.files[o.file].fd
		} else if o.flags&model.MapAnonymous == 0 {
			fd = 1 << 20 // no such descriptor: EBADF
		}
		sr, serr := k.as.Mmap(o.addr, o.length, mmap.Prot(o.prot), mmap.Flag(o.flags), sf, o.off)
		kr, kerr := k.h.Mmap(o.addr, o.length, o.prot, o.flags, fd, o.off)
		k.compareResult("mmap", sr, serr, kr, k.kernelErr(kerr), pageAlign(o.length))
		if o.flags&model.MapLocked != 0 {
			k.kinds["mmap MAP_LOCKED "+errName(serr)]++
		}
	case opMunmap:
		k.compareErrno("munmap", k.as.Munmap(o.addr, o.length), k.kernelErr(k.h.Munmap(o.addr, o.length)))
	case opMprotect:
		k.compareErrno("mprotect", k.as.Mprotect(o.addr, o.length, mmap.Prot(o.prot)), k.kernelErr(k.h.Mprotect(o.addr, o.length, o.prot)))
	case opMadvise:
		if o.advice == model.MadvFree {
			for a := o.addr &^ (pg - 1); a < o.addr+min(o.length, 1<<30); a += pg {
				k.freed[a] = true
			}
		}
		serr := k.as.Madvise(o.addr, o.length, mmap.Advice(o.advice))
		k.compareErrno("madvise", serr, k.kernelErr(k.h.Madvise(o.addr, o.length, o.advice)))
		k.advices[fmt.Sprintf("%d:%s", o.advice, errName(serr))]++
	case opMremap:
		sr, serr := k.as.Mremap(o.addr, o.length, o.newLen, mmap.MremapFlag(o.flags), o.newAddr)
		kr, kerr := k.h.Mremap(o.addr, o.length, o.newLen, o.flags, o.newAddr)
		k.compareResult("mremap", sr, serr, kr, k.kernelErr(kerr), pageAlign(o.newLen))
	case opStore, opLoad, opFault:
		a := o.addr
		if k.growsInto(a) {
			k.growAt = &a
			defer k.countGrowth(a)
		}
		switch o.kind {
		case opStore:
			k.store(a, o.val)
		case opLoad:
			k.load(a)
		default:
			k.fault(a, o.flags&1 != 0)
		}
	}
}

// countGrowth counts an access at a that tried to grow a stack, and
// whether it did.
func (k *simKernel) countGrowth(a uint64) {
	k.growAt = nil
	k.stackTried++
	for _, m := range k.as.Mappings() {
		if m.Start <= a && a < m.End {
			k.stackGrown++
			k.hist[len(k.hist)-1] += " (stack grown)"
		}
	}
}

// fault runs Thread.Fault. The kernel has no fault without an access, so
// a read fault is compared as a load, and a write fault as a store of the
// byte already there (a forced write through /proc/self/mem is a write
// fault, copy-on-write included); see store for which ones compare.
func (k *simKernel) fault(a uint64, write bool) {
	k.t.Helper()
	if !write {
		if err := k.th.Fault(a, false); err != nil && accessErrno(err) == -1 {
			k.failf("fault %s: %v", k.rel(a), err)
		}
		k.load(a)
		return
	}
	serr := k.th.Fault(a, true)
	switch accessErrno(serr) {
	case 0:
		v, kerr := k.h.Load(a)
		if ke := k.kernelErr(kerr); ke != 0 {
			k.failf("write fault %s: simulator ok, kernel read %s", k.rel(a), model.Errno(ke).Name())
		}
		if ke := k.kernelErr(k.h.Store(a, v)); ke != 0 {
			k.failf("write fault %s: simulator ok, kernel %s", k.rel(a), model.Errno(ke).Name())
		}
	case model.EFAULT, model.EIO:
		if ke := k.kernelErr(k.h.Store(a, 0)); ke != syscall.EIO {
			k.failf("write fault %s: simulator %v, kernel %s (want EIO)", k.rel(a), serr, model.Errno(ke).Name())
		}
	case model.EACCES:
		k.growKernel(a)
	default:
		k.failf("write fault %s: simulator %v", k.rel(a), serr)
	}
}

func (k *simKernel) describe(o op) string {
	s := o.String()
	for _, a := range []uint64{o.addr, o.newAddr} {
		if a >= k.base && a < k.base+1<<30 {
			s = strings.ReplaceAll(s, fmt.Sprintf("%#x", a), k.rel(a))
		}
	}
	return s
}

// store writes a byte where the simulator's user store succeeds; the
// kernel's /proc/self/mem write is a forced (ptrace) write that would
// also succeed on a read-only private page, so it is issued only where
// the protection allows the store, or where there is no page at all
// (EIO) or the file has none (SIGBUS: EIO).
func (k *simKernel) store(a uint64, v byte) {
	k.t.Helper()
	serr := k.th.Write(a, []byte{v})
	switch accessErrno(serr) {
	case 0:
		if ke := k.kernelErr(k.h.Store(a, v)); ke != 0 {
			k.failf("store %s: simulator ok, kernel %s", k.rel(a), model.Errno(ke).Name())
		}
		delete(k.freed, a&^(pg-1))
	case model.EFAULT, model.EIO:
		if ke := k.kernelErr(k.h.Store(a, v)); ke != syscall.EIO {
			k.failf("store %s: simulator %v, kernel %s (want EIO)", k.rel(a), serr, model.Errno(ke).Name())
		}
	case model.EACCES:
		// Not comparable: the forced write would succeed. But a
		// stack the store grew must grow in the kernel too.
		k.growKernel(a)
	default:
		k.failf("store %s: simulator %v", k.rel(a), serr)
	}
}

// load compares one byte read by the simulator's thread with the
// kernel's /proc/self/mem; see store for which accesses compare.
func (k *simKernel) load(a uint64) {
	k.t.Helper()
	var b [1]byte
	serr := k.th.Read(a, b[:])
	se := accessErrno(serr)
	if se == model.EACCES {
		// PROT_NONE: the forced read would succeed, so only the
		// growth of a stack is compared.
		k.growKernel(a)
		return
	}
	kv, kerr := k.h.Load(a)
	ke := k.kernelErr(kerr)
	switch {
	case se == 0 && ke == 0:
		k.bytes++
		if b[0] != kv && !(kv == 0 && k.freed[a&^(pg-1)]) {
			k.failf("load %s: simulator %d, kernel %d", k.rel(a), b[0], kv)
		}
	case (se == model.EFAULT || se == model.EIO) && ke == syscall.EIO:
	default:
		k.failf("load %s: simulator %v, kernel %s", k.rel(a), serr, model.Errno(ke).Name())
	}
}

// compare checks the window's layout, hidden flags and contents, and the
// simulator's invariants.
func (k *simKernel) compare() {
	k.t.Helper()
	kms, err := k.h.Smaps()
	if err != nil {
		k.t.Fatal(err)
	}
	sms := k.simWindow()
	if len(kms) != len(sms) {
		k.failf("layout: simulator has %d VMAs in the window, kernel %d", len(sms), len(kms))
	}
	hidden := map[uint64]mmap.VMAState{}
	for _, h := range k.as.VMAStates() {
		hidden[h.Start] = h
	}
	for i, s := range sms {
		km := kms[i]
		perms := s.Prot.String() + map[bool]string{true: "s", false: "p"}[s.Shared]
		if s.Start != km.Start || s.End != km.End || perms != km.Perms {
			k.failf("layout: VMA %d: simulator %s-%s %s, kernel %s-%s %s", i, k.rel(s.Start), k.rel(s.End), perms, k.rel(km.Start), k.rel(km.End), km.Perms)
		}
		if s.Name != km.Path || s.Offset != km.Offset {
			k.failf("layout: VMA %d: simulator %q offset %#x, kernel %q offset %#x", i, s.Name, s.Offset, km.Path, km.Offset)
		}
		h := hidden[s.Start]
		for _, f := range []struct {
			name string
			sim  bool
		}{
			{"ac", h.Account}, {"nr", h.NoReserve}, {"sr", h.SeqRead}, {"rr", h.RandRead},
			{"gd", h.GrowsDown}, {"sf", h.Sync}, {"nh", h.NoHuge}, {"sh", h.VMShared},
			{"ms", h.MayShare}, {"mw", h.MayWrite}, {"hg", h.Huge}, {"dc", h.DontCopy},
			{"dd", h.DontDump}, {"wf", h.WipeOnFork}, {"lo", h.Locked},
		} {
			if km.HasFlag(f.name) != f.sim {
				k.failf("layout: VMA %d %s-%s: VmFlags %q simulator %v, kernel %v", i, k.rel(s.Start), k.rel(s.End), f.name, f.sim, !f.sim)
			}
		}
	}
	// Every readable page of the window: a few offsets, where loads and
	// stores meet.
	for _, s := range sms {
		if s.Prot == mmap.ProtNone {
			continue
		}
		for p := max(s.Start, k.base); p < min(s.End, k.base+kernelWindowPages*2*pg); p += pg {
			for _, off := range pageOffsets {
				k.load(p + off)
			}
		}
	}
	if err := k.as.Check(); err != nil {
		k.failf("Check: %v", err)
	}
}

func kernelEnvInt(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

// TestKernelDifferential runs random call sequences on an AddressSpace and
// on the real kernel, for each policy, comparing them after every call.
func TestKernelDifferential(t *testing.T) {
	calls := kernelEnvInt("VMSIM_KERNEL_CALLS", 1200)
	if testing.Short() {
		calls /= 4
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VMSIM_KERNEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	total, bytes, tried, grown := 0, 0, 0, 0
	start := time.Now()
	kinds, advices := map[string]int{}, map[string]int{}
	for i, pol := range diffPolicies {
		t.Run(pol.String(), func(t *testing.T) {
			k := newSimKernel(t, pol)
			defer k.close()
			s := seed + uint64(i)
			src := randSource{rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))}
			g := genCfg{base: k.base, pages: kernelWindowPages, files: len(k.files), vmas: k.as.Mappings,
				stacks: func() []uint64 { return growsDownStarts(k.as) }}
			t.Logf("seed %d (VMSIM_KERNEL_SEED=%d replays the first policy's)", s, seed)
			for range calls {
				k.do(g.gen(src))
				k.compare()
			}
			total += k.calls
			bytes += k.bytes
			tried += k.stackTried
			grown += k.stackGrown
			t.Logf("%d accesses below a MAP_GROWSDOWN VMA compared; %d grew it", k.stackTried, k.stackGrown)
			for n, c := range k.kinds {
				kinds[n] += c
			}
			for n, c := range k.advices {
				advices[n] += c
			}
		})
	}
	t.Logf("%d kernel-compared calls over %d policies in %v (by kind: %v); %d bytes of contents compared; "+
		"%d accesses below a MAP_GROWSDOWN VMA, of which %d grew it",
		total, len(diffPolicies), time.Since(start).Round(time.Millisecond), kinds, bytes, tried, grown)
	t.Logf("madvise calls compared, by advice:errno: %v", advices)
}

// TestKernelStackGuardPlacement checks a placement rule the simulator and
// the model (internal/model: unmappedAreaTopdown) follow and that is easy
// to get wrong: below a MAP_GROWSDOWN VMA whose guard gap is hit, Linux
// searches again under the guard gap's start, skipping even a free gap
// that ends at another VMA.
// Layout: v at x-3 pages, a MAP_GROWSDOWN VMA g at x, nothing else near;
// a hint-less 1-page mmap then lands below x-256 pages, not at x-4. The
// kernel side works in its own top-down area with hints only (never
// MAP_FIXED outside the window) and is retried if the Go runtime maps
// something there meanwhile. x is where a hint-less page would go; when
// that is a hole too small for the layout (the process's earlier
// mappings leave such holes near the top of the area after other tests),
// the hole is filled through a second harness, so that the search, and
// the test's final mmap, pass it by.
func TestKernelStackGuardPlacement(t *testing.T) {
	kernelAvailable(t)
	h, err := kernel.OpenAny(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fill, err := kernel.OpenAny(pg)
	if err != nil {
		t.Fatal(err)
	}
	defer fill.Close()
	const (
		rwProt = uint32(mmap.ProtRead | mmap.ProtWrite)
		anon   = uint32(mmap.MapPrivate | mmap.MapAnonymous)
		gd     = uint32(mmap.MapGrowsDown)
	)
	guard := uint64(256 * pg)
	var kx, kr uint64
	filled := 0
	for try := 0; ; try++ {
		if try == 20 {
			t.Skipf("no room for the layout after %d tries (%d holes filled): the Go runtime kept mapping memory next to the test's mappings", try, filled)
		}
		x, err := h.Mmap(0, pg, rwProt, anon, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ReleaseOutside(); err != nil {
			t.Fatal(err)
		}
		if !kernelFree(t, x-8*pg, x) {
			hole := kernelHoleStart(t, x)
			if _, err := fill.Mmap(hole, x+pg-hole, uint32(mmap.ProtNone), anon|uint32(mmap.MapNoReserve), -1, 0); err != nil {
				t.Fatal(err)
			}
			filled++
			continue
		}
		v, err1 := h.Mmap(x-3*pg, pg, rwProt, anon, -1, 0)
		g, err2 := h.Mmap(x, pg, rwProt, anon|gd, -1, 0)
		free := err1 == nil && err2 == nil && v == x-3*pg && g == x && kernelFree(t, x-8*pg, x-3*pg) && kernelFree(t, x-2*pg, x)
		if !free {
			h.ReleaseOutside()
			continue
		}
		r, err := h.Mmap(0, pg, rwProt, anon, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		h.ReleaseOutside()
		kx, kr = x, r
		break
	}
	t.Logf("kernel: hint-less mmap at x%+d pages (%d holes filled first)", (int64(kr)-int64(kx))/pg, filled)
	if kr+pg > kx-guard {
		t.Fatalf("kernel: hint-less mmap at x%+d pages, want below the guard gap (x-256)", (int64(kr)-int64(kx))/pg)
	}
	for _, pol := range diffPolicies {
		as, err := mmap.New(mmap.Config{Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		x, _ := as.Mmap(0, pg, mmap.Prot(rwProt), mmap.Flag(anon), nil, 0)
		as.Munmap(x, pg)
		v, _ := as.Mmap(x-3*pg, pg, mmap.Prot(rwProt), mmap.Flag(anon), nil, 0)
		g, _ := as.Mmap(x, pg, mmap.Prot(rwProt), mmap.Flag(anon|gd), nil, 0)
		r, err := as.Mmap(0, pg, mmap.Prot(rwProt), mmap.Flag(anon), nil, 0)
		if v != x-3*pg || g != x || err != nil {
			t.Fatalf("%v: setup v=%#x g=%#x for x=%#x, %v", pol, v, g, x, err)
		}
		if r+pg > x-guard {
			t.Errorf("%v: hint-less mmap at x%+d pages, want below the guard gap (x-256) as the kernel (x%+d)",
				pol, (int64(r)-int64(x))/pg, (int64(kr)-int64(kx))/pg)
		}
		as.Close()
	}
}

// kernelFree reports whether /proc/self/maps shows nothing in [start, end).
func kernelFree(t *testing.T, start, end uint64) bool {
	t.Helper()
	for _, m := range selfMaps(t) {
		if m.Start < end && m.End > start {
			return false
		}
	}
	return true
}

// kernelHoleStart returns where the free range below addr begins: the end
// of the highest mapping ending at or below addr (0 if none).
func kernelHoleStart(t *testing.T, addr uint64) uint64 {
	t.Helper()
	start := uint64(0)
	for _, m := range selfMaps(t) {
		if m.End <= addr {
			start = max(start, m.End)
		}
	}
	return start
}

func selfMaps(t *testing.T) []kernel.Mapping {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := kernel.ParseMaps(f)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestKernelPopulatePrivateFile checks that MAP_POPULATE on a private
// writable file mapping breaks copy-on-write, as Linux's
// populate_vma_page_range() does with FOLL_WRITE: a later write to the
// file through a shared mapping is not seen by the populated private
// mapping, while an unpopulated one still sees the page cache.
func TestKernelPopulatePrivateFile(t *testing.T) {
	for _, pol := range diffPolicies {
		t.Run(pol.String(), func(t *testing.T) {
			k := newSimKernel(t, pol)
			defer k.close()
			f := k.files[0] // read-write, 8 pages and 100 bytes
			for i, extra := range []uint32{0, uint32(mmap.MapPopulate)} {
				priv := k.base + uint64(i)*32*pg
				shared := priv + 16*pg
				k.do(op{kind: opMmap, addr: priv, length: 4 * pg, prot: uint32(rw), flags: uint32(mmap.MapPrivate|mmap.MapFixed) | extra, file: 0})
				k.do(op{kind: opMmap, addr: shared, length: 4 * pg, prot: uint32(rw), flags: uint32(mmap.MapShared | mmap.MapFixed), file: 0})
				k.do(op{kind: opStore, addr: shared + 2*pg + 5, val: byte(0x77 + i)})
				k.compare()
				var b [1]byte
				if err := k.th.Read(priv+2*pg+5, b[:]); err != nil {
					t.Fatal(err)
				}
				var fb [1]byte
				f.sim.ReadAt(fb[:], 2*pg+5)
				if seen := b[0] == fb[0]; seen != (extra == 0) {
					t.Errorf("populate=%v: the private mapping reads %#x, the file %#x", extra != 0, b[0], fb[0])
				}
			}
		})
	}
}

// TestKernelStackGrowth runs fixed accesses below MAP_GROWSDOWN VMAs on
// the simulator and the kernel, comparing them after every call as
// TestKernelDifferential does: a store, a load and a fault grow a stack;
// an accessible mapping less than stack_guard_gap below the new start
// refuses the growth, a PROT_NONE one does not; a stack may grow to
// RLIMIT_STACK and no further; a read-only stack grows for a refused
// store. The random calls of TestKernelDifferential rarely line these up.
func TestKernelStackGrowth(t *testing.T) {
	for _, pol := range diffPolicies {
		t.Run(pol.String(), func(t *testing.T) {
			k := newSimKernel(t, pol)
			defer k.close()
			const (
				rwP  = uint32(mmap.ProtRead | mmap.ProtWrite)
				fixP = uint32(mmap.MapPrivate | mmap.MapAnonymous | mmap.MapFixed)
				gd   = uint32(mmap.MapGrowsDown)
			)
			b := k.base
			stack := b + 400*pg
			ops := []op{
				{kind: opMmap, addr: b + 100*pg, length: pg, prot: rwP, flags: fixP, file: -1},
				{kind: opMmap, addr: stack, length: 2 * pg, prot: rwP, flags: fixP | gd, file: -1},
				{kind: opStore, addr: stack - pg + 5, val: 1},
				{kind: opLoad, addr: stack - 3*pg + 100},
				{kind: opFault, addr: stack - 4*pg, flags: 1},
				{kind: opFault, addr: b + 101*pg + 256*pg},    // exactly the guard gap: grows
				{kind: opFault, addr: b + 100*pg + 256*pg},    // within it: SIGSEGV
				{kind: opStore, addr: b + 300*pg + 9, val: 2}, // within it: SIGSEGV
				{kind: opMprotect, addr: b + 100*pg, length: pg, prot: uint32(mmap.ProtNone)},
				{kind: opStore, addr: b + 150*pg + 9, val: 3}, // grows
				{kind: opMmap, addr: b + 600*pg, length: pg, prot: uint32(mmap.ProtRead), flags: fixP | gd, file: -1},
				{kind: opStore, addr: b + 598*pg, val: 4}, // grows, then SEGV_ACCERR
				{kind: opLoad, addr: b + 597*pg},          // grows
			}
			grown, refused := 7, 2
			// RLIMIT_STACK, if it is small enough to reach in the window.
			var rl syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil {
				t.Fatal(err)
			}
			if lim := rl.Cur &^ (pg - 1); lim >= 4*pg && lim <= 64<<20 {
				top := b + 1024*pg + lim
				ops = append(ops,
					op{kind: opMmap, addr: top - pg, length: pg, prot: rwP, flags: fixP | gd, file: -1},
					op{kind: opStore, addr: top - lim, val: 5},     // the limit: grows
					op{kind: opStore, addr: top - lim - 1, val: 6}, // one page more: SIGSEGV
				)
				grown, refused = grown+1, refused+1
			} else {
				t.Logf("RLIMIT_STACK %#x: the limit is not reached in the window", rl.Cur)
			}
			for _, o := range ops {
				k.do(o)
				k.compare()
			}
			t.Logf("%d accesses below a MAP_GROWSDOWN VMA compared with the kernel; %d grew it", k.stackTried, k.stackGrown)
			if k.stackGrown != grown || k.stackTried-k.stackGrown != refused {
				t.Errorf("%d accesses grew a stack and %d were refused, want %d and %d", k.stackGrown, k.stackTried-k.stackGrown, grown, refused)
			}
		})
	}
}

// kernelMemlockLimit returns the Config.MemlockLimit that matches this
// process: 0 (unlimited) with CAP_IPC_LOCK in its effective set, as for
// root, or with an infinite RLIMIT_MEMLOCK; otherwise the soft limit, or
// mmap.MemlockNone for a limit of 0 (mm/mlock.c: can_do_mlock(),
// mm/mmap.c: mlock_future_ok()). The kernel counts the whole process's
// locked memory against the limit; this test process locks none outside
// its window.
func kernelMemlockLimit(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	const capIPCLock = 14
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if eff&(1<<capIPCLock) != 0 {
				return 0
			}
		}
	}
	const rlimitMemlock = 8 // include/uapi/asm-generic/resource.h: RLIMIT_MEMLOCK
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(rlimitMemlock, &rl); err != nil {
		t.Fatal(err)
	}
	switch {
	case rl.Cur == 0:
		return mmap.MemlockNone
	case rl.Cur >= 1<<62:
		return 0 // RLIM_INFINITY
	}
	return int64(rl.Cur)
}
