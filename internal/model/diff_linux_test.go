package model_test

import (
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
)

// The differential test: random call sequences against the model and the
// real kernel, compared after every call (errno, result, /proc/self/maps,
// the hidden VmFlags of /proc/self/smaps, and sampled page contents).
//
// Reproduce a failure with VMSIM_SEED=<seed> (printed on failure);
// VMSIM_CALLS sets the number of calls per sequence.

type diff struct {
	t     *testing.T
	rng   *rand.Rand
	seed  uint64
	m     *model.Model
	kb    *kernelBackend
	base  uint64
	files []*model.File
	paths map[int]string // File.ID → path in /proc/self/maps
	hist  []string       // the calls so far, for the failure report
	calls int
	arena int // the calls aim at the first arena pages of the window
	// counts of compared calls by kind, for the log.
	kinds map[string]int
}

func newDiff(t *testing.T, seed uint64) *diff {
	kb := newKernelBackend(t)
	d := &diff{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed,
		m: model.New(model.Config{MemlockLimit: memlockLimit(t)}), kb: kb, base: kb.base(), paths: map[int]string{}, kinds: map[string]int{},
		arena: []int{24, 48, 96}[seed%3]}
	// Files: id 1 is 8 pages + 100 bytes (its last page is partial),
	// opened read-write and read-only; id 2 is 4 pages.
	d.files = []*model.File{
		kb.file(t, 1, true, 8*P+100),
		kb.file(t, 1, false, 8*P+100),
		kb.file(t, 2, true, 4*P),
	}
	for id, p := range kb.paths {
		d.paths[id] = p
	}
	return d
}

func (d *diff) close() { d.kb.close() }

func (d *diff) failf(format string, args ...any) {
	d.t.Helper()
	start := max(0, len(d.hist)-envInt("VMSIM_HIST", 40))
	d.t.Fatalf("seed %d, call #%d: %s\nlast calls:\n  %s\nmodel VMAs in window:\n  %s\nkernel maps:\n  %s",
		d.seed, d.calls, fmt.Sprintf(format, args...), strings.Join(d.hist[start:], "\n  "),
		strings.Join(d.modelLines(), "\n  "), strings.Join(d.kernelLines(), "\n  "))
}

func (d *diff) modelLines() []string {
	var out []string
	for _, v := range d.windowVMAs() {
		out = append(out, fmt.Sprintf("%x-%x %s pgoff=%#x flags=%#x anon_vma=%d shm=%d file=%v",
			(v.Start-d.base)/P, (v.End-d.base)/P, v.Perms(), v.Pgoff, v.Flags, v.AnonID, v.Shm, v.File != nil))
	}
	return out
}

func (d *diff) kernelLines() []string {
	ms, err := d.kb.h.Smaps()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%x-%x %s %x %d %s [%s]", (m.Start-d.base)/P, (m.End-d.base)/P, m.Perms, m.Offset, m.Inode, m.Path, strings.Join(m.VmFlags, " ")))
	}
	return out
}

func (d *diff) windowVMAs() []model.VMA { return d.windowVMAsOf(d.m) }

func (d *diff) windowVMAsOf(m *model.Model) []model.VMA {
	w := d.kb.h.Window()
	var out []model.VMA
	for _, v := range m.VMAs() {
		if w.Overlaps(v.Start, v.End) {
			out = append(out, v)
		}
	}
	return out
}

// record appends a call description to the history.
func (d *diff) record(format string, args ...any) {
	d.hist = append(d.hist, fmt.Sprintf(format, args...))
	d.calls++
}

// --- random arguments -------------------------------------------------

func (d *diff) page() uint64 { return d.base + uint64(d.rng.IntN(d.arena))*P }

func (d *diff) addr() uint64 {
	a := d.page()
	if d.rng.IntN(30) == 0 {
		a += uint64(1 + d.rng.IntN(P-1)) // unaligned
	}
	return a
}

func (d *diff) length() uint64 {
	switch d.rng.IntN(40) {
	case 0:
		return 0
	case 1:
		return uint64(1 + d.rng.IntN(3*P)) // unaligned
	case 2, 3, 4:
		return uint64(1+d.rng.IntN(d.arena)) * P // long: across many VMAs
	}
	return uint64(1+d.rng.IntN(10)) * P
}

func (d *diff) prot() uint32 {
	switch d.rng.IntN(10) {
	case 0:
		return model.ProtNone
	case 1, 2:
		return model.ProtRead
	case 3:
		return model.ProtRead | model.ProtExec
	case 4:
		return model.ProtRead | model.ProtWrite | model.ProtExec
	default:
		return model.ProtRead | model.ProtWrite
	}
}

// --- the calls ---------------------------------------------------------

func (d *diff) doMmap() {
	addr := d.addr()
	length := d.length()
	prot := d.prot()
	if d.rng.IntN(40) == 0 {
		prot |= 0x10 // an unknown bit: ignored by mmap
	}
	var flags uint32
	switch r := d.rng.IntN(20); {
	case r < 13:
		flags = model.MapFixed
	case r < 16:
		flags = model.MapFixedNoreplace
	case r < 19: // a hint: honoured if free, else placed outside the window
		flags = 0
	default:
		flags = model.MapFixed | model.MapFixedNoreplace
	}
	switch r := d.rng.IntN(20); {
	case r < 14:
		flags |= model.MapPrivate
	case r < 18:
		flags |= model.MapShared
	case r < 19:
		flags |= model.MapSharedValidate
	default:
		flags |= uint32(d.rng.IntN(16)) // any type, mostly invalid
		if flags&model.MapType == 8 {
			flags &^= 8 // MAP_DROPPABLE is not modelled (doc.go)
		}
	}
	var f *model.File
	var off uint64
	if d.rng.IntN(4) == 0 {
		f = d.files[d.rng.IntN(len(d.files))]
		off = uint64(d.rng.IntN(10)) * P
		if d.rng.IntN(30) == 0 {
			off += 512
		}
		if d.rng.IntN(30) == 0 {
			flags |= model.MapSync // EOPNOTSUPP with MAP_SHARED_VALIDATE
		}
	} else {
		flags |= model.MapAnonymous
	}
	if d.rng.IntN(12) == 0 {
		flags |= model.MapNoReserve
	}
	if d.rng.IntN(12) == 0 {
		flags |= model.MapPopulate
	}
	if d.rng.IntN(15) == 0 {
		flags |= model.MapGrowsDown
	}
	if d.rng.IntN(40) == 0 {
		flags |= model.MapStack
	}
	if d.rng.IntN(12) == 0 {
		flags |= model.MapLocked
	}
	if d.rng.IntN(60) == 0 {
		flags |= model.MapSync
	}
	if f == nil && d.rng.IntN(60) == 0 {
		flags &^= model.MapAnonymous // no file: EBADF
	}
	d.record("mmap(%s, %#x, %#x, %#x, %s, %#x)", d.rel(addr), length, prot, flags, fileName(f), off)
	mr, me := d.m.Mmap(addr, length, prot, flags, f, off)
	kr, ke := d.kb.Mmap(addr, length, prot, flags, f, off)
	d.compareResult("mmap", mr, me, kr, ke, length)
	if flags&model.MapLocked != 0 {
		d.kinds["mmap MAP_LOCKED "+me.Name()]++
	}
}

func fileName(f *model.File) string {
	if f == nil {
		return "anon"
	}
	return fmt.Sprintf("file%d/%v", f.ID, map[bool]string{true: "rw", false: "ro"}[f.Writable])
}

func (d *diff) rel(a uint64) string {
	if a >= d.base && a < d.base+(1<<30) {
		return fmt.Sprintf("W+%#x", a-d.base)
	}
	return fmt.Sprintf("%#x", a)
}

// compareResult checks a call that returns an address. A result inside
// the window must be equal; a result outside the window (an ignored hint,
// a move to a kernel-chosen address) must be outside in both, and is
// unmapped again in both.
func (d *diff) compareResult(kind string, mr uint64, me model.Errno, kr uint64, ke model.Errno, length uint64) {
	d.t.Helper()
	d.kinds[kind]++
	if me != ke {
		d.failf("%s: errno model %s, kernel %s", kind, me.Name(), ke.Name())
	}
	if me != 0 {
		return
	}
	w := d.kb.h.Window()
	mIn, kIn := w.Contains(mr, 1), w.Contains(kr, 1)
	if mIn || kIn {
		if mr != kr {
			d.failf("%s: result model %s, kernel %s", kind, d.rel(mr), d.rel(kr))
		}
		return
	}
	// Both outside: forget the mappings.
	if err := d.kb.h.ReleaseOutside(); err != nil {
		d.t.Fatal(err)
	}
	if e := d.m.Munmap(mr, length); e != 0 {
		d.t.Fatalf("model munmap of outside mapping: %v", e)
	}
}

func (d *diff) doMunmap() {
	addr, length := d.addr(), d.length()
	d.record("munmap(%s, %#x)", d.rel(addr), length)
	d.kinds["munmap"]++
	if me, ke := d.m.Munmap(addr, length), d.kb.Munmap(addr, length); me != ke {
		d.failf("munmap: errno model %s, kernel %s", me.Name(), ke.Name())
	}
}

func (d *diff) doMprotect() {
	addr, length, prot := d.addr(), d.length(), d.prot()
	switch d.rng.IntN(40) {
	case 0:
		prot |= model.ProtGrowsDown
	case 1:
		prot |= model.ProtSem
	case 2:
		prot |= 0x40 // invalid
	}
	d.record("mprotect(%s, %#x, %#x)", d.rel(addr), length, prot)
	d.kinds["mprotect"]++
	if me, ke := d.m.Mprotect(addr, length, prot), d.kb.Mprotect(addr, length, prot); me != ke {
		d.failf("mprotect: errno model %s, kernel %s", me.Name(), ke.Name())
	}
}

func (d *diff) doMadvise() {
	addr, length := d.addr(), d.length()
	advices := []int{model.MadvNormal, model.MadvRandom, model.MadvSequential, model.MadvWillneed,
		model.MadvDontneed, model.MadvDontneed, model.MadvFree, 5, 7,
		model.MadvDontfork, model.MadvDofork, model.MadvDontdump, model.MadvDodump,
		model.MadvWipeonfork, model.MadvKeeponfork, model.MadvHugepage, model.MadvNohugepage,
		model.MadvCold, model.MadvPageout, model.MadvPopulateRead, model.MadvPopulateWrite}
	adv := advices[d.rng.IntN(len(advices))]
	d.record("madvise(%s, %#x, %d)", d.rel(addr), length, adv)
	d.kinds["madvise"]++
	if me, ke := d.m.Madvise(addr, length, adv), d.kb.Madvise(addr, length, adv); me != ke {
		d.failf("madvise: errno model %s, kernel %s", me.Name(), ke.Name())
	}
}

func (d *diff) doMremap() {
	oldAddr := d.addr()
	oldLen := d.length()
	newLen := d.length()
	var flags uint32
	newAddr := uint64(0)
	switch d.rng.IntN(10) {
	case 0, 1: // resize in place only
	case 2, 3: // may move (possibly out of the window)
		flags = model.MremapMaymove
	case 4, 5, 6: // fixed move, often same size (multi-VMA moves)
		flags = model.MremapMaymove | model.MremapFixed
		newAddr = d.addr()
		if d.rng.IntN(2) == 0 {
			newLen = oldLen
		}
	case 7: // dontunmap, fixed or hinted
		flags = model.MremapMaymove | model.MremapDontunmap
		newLen = oldLen
		newAddr = d.page()
		if d.rng.IntN(2) == 0 {
			flags |= model.MremapFixed
		}
	case 8: // duplicate (old_len 0)
		flags = model.MremapMaymove
		oldLen = 0
		if d.rng.IntN(2) == 0 {
			flags |= model.MremapFixed
			newAddr = d.page()
		}
	default: // odd flags
		flags = uint32(d.rng.IntN(9))
		newAddr = d.addr()
	}
	d.record("mremap(%s, %#x, %#x, %d, %s)", d.rel(oldAddr), oldLen, newLen, flags, d.rel(newAddr))
	mr, me := d.m.Mremap(oldAddr, oldLen, newLen, flags, newAddr)
	kr, ke := d.kb.Mremap(oldAddr, oldLen, newLen, flags, newAddr)
	d.compareResult("mremap", mr, me, kr, ke, newLen)
}

// doStore writes a byte where the model says a user store succeeds (the
// kernel's /proc/self/mem write is a forced write that would also succeed
// on read-only private pages), and checks that unmapped or beyond-EOF
// addresses fail in both.
func (d *diff) doStore() {
	a := d.page() + uint64(d.rng.IntN(P))
	v := byte(1 + d.rng.IntN(255))
	me := d.m.Store(a, v)
	switch me {
	case model.EACCES:
		// Not comparable: the forced write would succeed. Read instead,
		// which grows a MAP_GROWSDOWN VMA exactly as the fault did.
		d.record("store(%s) → EACCES; read instead", d.rel(a))
		d.kb.Load(a)
		return
	case model.EFAULT, model.EIO:
		d.record("store(%s) → %s", d.rel(a), me.Name())
		d.kinds["store"]++
		if ke := d.kb.Store(a, v); ke != model.EIO {
			d.failf("store to %s: model %s, kernel %s (want EIO)", d.rel(a), me.Name(), ke.Name())
		}
		return
	}
	d.record("store(%s, %d)", d.rel(a), v)
	d.kinds["store"]++
	if ke := d.kb.Store(a, v); ke != 0 {
		d.failf("store to %s: model ok, kernel %s", d.rel(a), ke.Name())
	}
}

// checkLoad compares one byte.
func (d *diff) checkLoad(a uint64) {
	mv, me := d.m.Load(a)
	// Read in the kernel even when the model refuses the access
	// (EACCES): the forced read has no side effect except growing a
	// MAP_GROWSDOWN VMA, which the model's fault did too.
	kv, ke := d.kb.Load(a)
	if me == model.EACCES {
		return
	}
	d.kinds["load"]++
	if me != 0 {
		if ke != model.EIO {
			d.failf("load %s: model %s, kernel %s (want EIO)", d.rel(a), me.Name(), ke.Name())
		}
		return
	}
	if ke != 0 {
		d.failf("load %s: model %d, kernel %s", d.rel(a), mv, ke.Name())
	}
	if kv != mv && !(kv == 0 && d.m.LazyFree(a)) {
		d.failf("load %s: model %d, kernel %d", d.rel(a), mv, kv)
	}
}

// compareLayout compares the window's VMAs with /proc/self/smaps.
func (d *diff) compareLayout() {
	d.t.Helper()
	ms, err := d.kb.h.Smaps()
	if err != nil {
		d.t.Fatal(err)
	}
	d.compareMappings(ms, d.windowVMAs())
}

// compareMappings compares the model's VMAs vs in the window with the
// kernel's smaps entries ms there.
func (d *diff) compareMappings(ms []kernel.Mapping, vs []model.VMA) {
	d.t.Helper()
	if len(ms) != len(vs) {
		d.failf("layout: model has %d VMAs, kernel %d", len(vs), len(ms))
	}
	shmToInode := map[int]uint64{}
	inodeToShm := map[uint64]int{}
	for i, v := range vs {
		k := ms[i]
		if v.Start != k.Start || v.End != k.End || v.Perms() != k.Perms {
			d.failf("layout: VMA %d: model %x-%x %s, kernel %x-%x %s", i,
				(v.Start-d.base)/P, (v.End-d.base)/P, v.Perms(), (k.Start-d.base)/P, (k.End-d.base)/P, k.Perms)
		}
		var wantPath string
		var wantOff uint64
		switch {
		case v.File != nil:
			wantPath, wantOff = d.paths[v.File.ID], v.Pgoff*P
		case v.Shm != 0:
			wantPath, wantOff = "/dev/zero (deleted)", v.Pgoff*P
			if ino, ok := shmToInode[v.Shm]; ok && ino != k.Inode {
				d.failf("layout: VMA %d: one shmem object, two inodes", i)
			}
			if s, ok := inodeToShm[k.Inode]; ok && s != v.Shm {
				d.failf("layout: VMA %d: two shmem objects, one inode", i)
			}
			shmToInode[v.Shm], inodeToShm[k.Inode] = k.Inode, v.Shm
		}
		if k.Path != wantPath || k.Offset != wantOff {
			d.failf("layout: VMA %d: model path %q offset %#x, kernel %q %#x", i, wantPath, wantOff, k.Path, k.Offset)
		}
		for _, fl := range []struct {
			name string
			want bool
		}{
			{"gd", v.Flags&model.VMGrowsDown != 0},
			{"sr", v.Flags&model.VMSeqRead != 0},
			{"rr", v.Flags&model.VMRandRead != 0},
			{"ac", v.Flags&model.VMAccount != 0},
			{"nr", v.Flags&model.VMNoReserve != 0},
			{"sf", v.Flags&model.VMSync != 0},
			{"nh", v.Flags&model.VMNoHuge != 0},
			{"hg", v.Flags&model.VMHugepage != 0},
			{"dc", v.Flags&model.VMDontCopy != 0},
			{"dd", v.Flags&model.VMDontDump != 0},
			{"wf", v.Flags&model.VMWipeOnFork != 0},
			{"lo", v.Flags&model.VMLocked != 0},
			{"sh", v.VMShared()},
			{"ms", v.Shared},
			{"mw", v.MayWrite()},
		} {
			if k.HasFlag(fl.name) != fl.want {
				d.failf("layout: VMA %d: VmFlags %q: model %v, kernel %v", i, fl.name, fl.want, !fl.want)
			}
		}
	}
}

func (d *diff) step() {
	switch r := d.rng.IntN(100); {
	case r < 28:
		d.doMmap()
	case r < 38:
		d.doMunmap()
	case r < 52:
		d.doMprotect()
	case r < 66:
		d.doMremap()
	case r < 76:
		d.doMadvise()
	default:
		d.doStore()
	}
	d.compareLayout()
	if os.Getenv("VMSIM_TRACE") != "" {
		d.t.Logf("#%d %s\n  %s", d.calls, d.hist[len(d.hist)-1], strings.Join(d.kernelLines(), "\n  "))
	}
	for range 3 {
		d.checkLoad(d.page() + uint64(d.rng.IntN(P)))
	}
}

func envInt(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

// TestKernelDifferential runs seeded random sequences of calls against the
// model and the kernel and compares them after every call.
func TestKernelDifferential(t *testing.T) {
	seeds := []uint64{uint64(time.Now().UnixNano())}
	if s := os.Getenv("VMSIM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	} else {
		seeds = append(seeds, 1, 2, 3)
	}
	calls := envInt("VMSIM_CALLS", 1000)
	if testing.Short() {
		calls /= 5
	}
	total := 0
	kinds := map[string]int{}
	start := time.Now()
	for _, seed := range seeds {
		d := newDiff(t, seed)
		for range calls {
			d.step()
		}
		total += d.calls
		for k, n := range d.kinds {
			kinds[k] += n
		}
		d.close()
	}
	_ = kernel.DefaultWindow
	t.Logf("%d kernel-compared calls over %d sequences in %v (seeds %v); compared by kind: %v",
		total, len(seeds), time.Since(start).Round(time.Millisecond), seeds, kinds)
}

// memlockLimit returns the Config.MemlockLimit that matches this process:
// 0 (no limit) with CAP_IPC_LOCK in its effective set, as for root, or
// with an infinite RLIMIT_MEMLOCK; otherwise the soft limit, or -1 for a
// limit of 0 (mm/mlock.c: can_do_mlock(), mm/mmap.c: mlock_future_ok()).
// The kernel counts the whole process's locked memory; this test locks
// none outside its window.
func memlockLimit(t *testing.T) int64 {
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
		return -1
	case rl.Cur >= 1<<62:
		return 0 // RLIM_INFINITY
	}
	return int64(rl.Cur)
}
