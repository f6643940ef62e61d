package mmap_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// churnPages is the size of the arena the churn workload works in.
const churnPages = 64

// churnFilePages is the size of each file the churn workload maps.
const churnFilePages = 16

// churnSyscall makes one random syscall (or file truncation) on the arena
// and returns what it did, for failure messages, and its error.
func churnSyscall(as *mmap.AddressSpace, rng *rand.Rand, files []*mmap.File) (string, error) {
	page := func(n uint64) uint64 { return arenaBase + n*mmap.PageSize }
	start := rng.Uint64N(churnPages)
	n := 1 + rng.Uint64N(min(16, churnPages-start))
	prots := []mmap.Prot{mmap.ProtRead, mmap.ProtRead | mmap.ProtWrite, mmap.ProtNone}
	prot := prots[rng.IntN(len(prots))]
	switch op := rng.IntN(10); op {
	case 0, 1, 2: // mmap(MAP_FIXED): anonymous or file, private or shared
		flags := mmap.MapFixed | mmap.MapPrivate
		if rng.IntN(3) == 0 {
			flags = mmap.MapFixed | mmap.MapShared
		}
		if rng.IntN(2) == 0 {
			_, err := as.Mmap(page(start), n*mmap.PageSize, prot, flags|mmap.MapAnonymous, nil, 0)
			return fmt.Sprintf("mmap(%d+%d, %v, anon %v)", start, n, prot, flags), err
		}
		f := files[rng.IntN(len(files))]
		off := rng.Uint64N(churnFilePages) * mmap.PageSize
		_, err := as.Mmap(page(start), n*mmap.PageSize, prot, flags, f, off)
		return fmt.Sprintf("mmap(%d+%d, %v, %s@%#x %v)", start, n, prot, f.Name(), off, flags), err
	case 3, 4:
		return fmt.Sprintf("munmap(%d+%d)", start, n), as.Munmap(page(start), n*mmap.PageSize)
	case 5:
		return fmt.Sprintf("mprotect(%d+%d, %v)", start, n, prot), as.Mprotect(page(start), n*mmap.PageSize, prot)
	case 6: // mremap: move within the arena, or resize in place
		if rng.IntN(2) == 0 {
			dst := rng.Uint64N(churnPages - n + 1)
			_, err := as.Mremap(page(start), n*mmap.PageSize, n*mmap.PageSize, mmap.MremapMaymove|mmap.MremapFixed, page(dst))
			return fmt.Sprintf("mremap(%d+%d → %d)", start, n, dst), err
		}
		newN := 1 + rng.Uint64N(min(16, churnPages-start))
		_, err := as.Mremap(page(start), n*mmap.PageSize, newN*mmap.PageSize, 0, 0)
		return fmt.Sprintf("mremap(%d+%d → +%d)", start, n, newN), err
	case 7, 8:
		return fmt.Sprintf("madvise(%d+%d, DONTNEED)", start, n), as.Madvise(page(start), n*mmap.PageSize, mmap.MadvDontneed)
	default: // truncate a file and grow it back: zaps the pages beyond EOF
		f := files[rng.IntN(len(files))]
		size := int64(rng.IntN(churnFilePages * mmap.PageSize))
		err := f.Truncate(size)
		if err == nil {
			err = f.Truncate(churnFilePages * mmap.PageSize)
		}
		return fmt.Sprintf("truncate(%s, %d)", f.Name(), size), err
	}
}

// TestConcurrentChurnNoLeak runs accesses (loads, stores, copy-on-write
// faults, explicit faults) from three threads against a syscall goroutine
// that churns the arena with every syscall (mmap MAP_FIXED of anonymous
// and file memory, private and shared, munmap, mprotect, mremap,
// madvise(DONTNEED)) and truncates the files, while a fourth goroutine
// runs Check. Every access returns a value that is not poison or a signal
// a mapping can give; every syscall succeeds or returns an errno; Check
// holds throughout. Then, with everything unmapped and the page caches
// dropped, no frame is in use; after Close none is, and every VMA that
// mapped a file has been closed.
func TestConcurrentChurnNoLeak(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, p mmap.Policy) {
		as := newAS(t, mmap.Config{Policy: p})
		vs := &violations{}
		files := []*mmap.File{
			fileOf("churn-fast", churnFilePages, func(p uint64) uint64 { return val(1, p) }, 0),
			fileOf("churn-slow", churnFilePages, func(p uint64) uint64 { return val(2, p) }, 20*time.Microsecond),
		}
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)

		var (
			stop    atomic.Bool
			workers sync.WaitGroup
		)
		for i := range 3 {
			th := as.NewThreadNamed(fmt.Sprintf("T%d", i))
			workers.Add(1)
			go func(rng *rand.Rand) {
				defer workers.Done()
				defer th.Close()
				for n := 0; !stop.Load() && n < 1_000_000; n++ {
					addr := arenaBase + rng.Uint64N(churnPages*mmap.PageSize/8)*8
					var (
						v   uint64
						err error
						op  string
					)
					switch rng.IntN(8) {
					case 0, 1, 2:
						op = "store"
						err = th.WriteUint64(addr, val(3, uint64(n)&0xfff))
					case 3:
						op = "fault"
						err = th.Fault(addr, rng.IntN(2) == 0)
					default:
						op = "load"
						v, err = th.ReadUint64(addr)
					}
					switch got := outcome(err); {
					case got != "ok" && got != "maperr" && got != "accerr" && got != "sigbus":
						vs.add("signal", "%s: %s at %#x: %v", th.Name(), op, addr, err)
					case v == poison:
						vs.add("poison", "%s: load at %#x returned poison", th.Name(), addr)
					}
					if n%32 == 0 {
						runtime.Gosched()
					}
				}
			}(rand.New(rand.NewPCG(seed, uint64(i))))
		}
		workers.Add(1)
		go func() { // the checker
			defer workers.Done()
			for i := 0; !stop.Load() && i < 200; i++ {
				checkAS(as, vs, fmt.Sprintf("during churn (%d)", i))
				time.Sleep(200 * time.Microsecond)
			}
		}()

		rng := rand.New(rand.NewPCG(seed, 99))
		for i := 0; i < 800 && !vs.flooded(); i++ {
			what, err := churnSyscall(as, rng, files)
			var errno mmap.Errno
			if err != nil && !errors.As(err, &errno) {
				vs.add("syscall", "%s: %v", what, err)
			}
			if i%8 == 0 {
				runtime.Gosched()
			}
		}
		stop.Store(true)
		workers.Wait()
		require.Zero(t, vs.count(), vs.String())

		require.NoError(t, as.Check(), "quiescent, after the churn")
		require.NoError(t, as.Munmap(arenaBase, churnPages*mmap.PageSize))
		require.NoError(t, as.Check(), "after unmapping everything")
		st := as.Stats()
		require.Zero(t, st.MapCount)
		for _, f := range files {
			f.DropCache()
		}
		require.NoError(t, as.Check(), "after dropping the page caches")
		require.Zero(t, as.Stats().FramesInUse, "frames in use with nothing mapped or cached: a leak")
		require.NoError(t, as.Close())
		require.Zero(t, as.Stats().FramesInUse, "after Close")
		for _, f := range files {
			require.Zero(t, f.MapCount(), "%s: VMAs opened on it and never closed", f.Name())
		}
		t.Logf("faults %d (cow %d, major %d), shootdowns %d, segv %d/%d, sigbus %d",
			st.Pgfault, st.CopyOnWrite, st.Pgmajfault, st.Shootdowns, st.SegvMaperr, st.SegvAccerr, st.Sigbus)
	})
}

// Regressions the churn found, pinned down sequentially.

// TestMprotectSubrangeWithSameProt: mprotect of the head of a VMA with the
// protection it already has changes nothing and returns (it used to loop
// forever: the VMA extends past the range, so the next lookup returned it
// again).
func TestMprotectSubrangeWithSameProt(t *testing.T) {
	as := newAS(t, mmap.Config{})
	_, err := as.Mmap(arenaBase, 4*mmap.PageSize, mmap.ProtRead, mmap.MapFixed|mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	require.NoError(t, as.Mprotect(arenaBase, 2*mmap.PageSize, mmap.ProtRead))
	require.Equal(t, []mmap.Mapping{{Start: arenaBase, End: arenaBase + 4*mmap.PageSize, Prot: mmap.ProtRead}}, as.Mappings())
	require.NoError(t, as.Check())
}

// TestSharedAnonFreedWithLastVMA: the pages of a MAP_SHARED|MAP_ANONYMOUS
// mapping are freed once it is unmapped (they used to stay in use
// forever, in no file's page cache that Check or Close knew about).
func TestSharedAnonFreedWithLastVMA(t *testing.T) {
	as := newAS(t, mmap.Config{})
	th := as.NewThread()
	defer th.Close()
	a, err := as.Mmap(0, 4*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapShared|mmap.MapAnonymous, nil, 0)
	require.NoError(t, err)
	for p := uint64(0); p < 4; p++ {
		require.NoError(t, th.WriteUint64(a+p*mmap.PageSize, val(1, p)))
	}
	// Split it and move half away: the pages stay shared by both VMAs.
	b, err := as.Mremap(a+2*mmap.PageSize, 2*mmap.PageSize, 2*mmap.PageSize, mmap.MremapMaymove|mmap.MremapFixed, arenaBase)
	require.NoError(t, err)
	require.NoError(t, as.Munmap(a, 2*mmap.PageSize))
	require.NoError(t, as.Check())
	v, err := th.ReadUint64(b + mmap.PageSize)
	require.NoError(t, err)
	require.Equal(t, val(1, 3), v)
	require.Equal(t, 4, as.Stats().FramesInUse, "the object lives while a VMA maps it")
	require.NoError(t, as.Munmap(b, 2*mmap.PageSize))
	require.NoError(t, as.Check())
	require.Zero(t, as.Stats().FramesInUse)
}
