package mmap_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
)

// closeLoadPages is the size of the region the Close-under-load workers
// use.
const closeLoadPages = 16

// closeBacking is one kind of memory the Close-under-load test maps.
type closeBacking struct {
	name string
	// mmap maps closeLoadPages pages at addr (MAP_FIXED) on as; it is
	// also what the remapping worker calls.
	mmap func(as *mmap.AddressSpace, addr uint64) error
	// after checks, once as is closed, that the backing let go of it.
	after func(t *testing.T)
}

// closeBackings returns one of each kind of backing: private anonymous
// memory, a file mapped shared and private (its misses sleeping a little,
// so that slow-path faults are in flight), shared anonymous memory, and a
// user-written backing that keeps its pages.
func closeBackings() []closeBacking {
	rw := mmap.ProtRead | mmap.ProtWrite
	length := uint64(closeLoadPages * mmap.PageSize)
	f := fileOf("close-load", closeLoadPages, func(p uint64) uint64 { return val(7, p) }, 20*time.Microsecond)
	k := newKeeper()
	fileAfter := func(t *testing.T) {
		// The file is bound to no closed address space: another one
		// maps and reads it.
		as := newAS(t, mmap.Config{})
		addr, err := as.Mmap(0, length, mmap.ProtRead, mmap.MapShared, f, 0)
		require.NoError(t, err)
		th := as.NewThread()
		defer th.Close()
		_, err = th.ReadUint64(addr)
		require.NoError(t, err)
	}
	return []closeBacking{
		{name: "anonymous", mmap: func(as *mmap.AddressSpace, addr uint64) error {
			_, err := as.Mmap(addr, length, rw, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapFixed, nil, 0)
			return err
		}},
		{name: "file-shared", mmap: func(as *mmap.AddressSpace, addr uint64) error {
			_, err := as.Mmap(addr, length, rw, mmap.MapShared|mmap.MapFixed, f, 0)
			return err
		}, after: fileAfter},
		{name: "file-private", mmap: func(as *mmap.AddressSpace, addr uint64) error {
			_, err := as.Mmap(addr, length, rw, mmap.MapPrivate|mmap.MapFixed, f, 0)
			return err
		}, after: fileAfter},
		{name: "shmem", mmap: func(as *mmap.AddressSpace, addr uint64) error {
			_, err := as.Mmap(addr, length, rw, mmap.MapShared|mmap.MapAnonymous|mmap.MapFixed, nil, 0)
			return err
		}},
		{name: "custom", mmap: func(as *mmap.AddressSpace, addr uint64) error {
			_, err := as.MmapBacking(addr, length, rw, mmap.MapShared|mmap.MapFixed, fastKeeper{k}, 0)
			return err
		}, after: func(t *testing.T) {
			require.Empty(t, k.CachedFrames(k.frames), "the backing's last VMA was not closed")
		}},
	}
}

// TestCloseUnderLoad closes an address space while threads fault, read
// and write, while a thread unmaps and maps the region again and
// another makes syscalls that populate it (through hidden threads), for
// every policy and every kind of backing. Close must neither panic nor
// hang; every access and call ends with nil, a signal or ErrClosed, and
// never reads a freed frame; afterwards no frame is in use and no thread
// is counted, and the backing is free for another address space.
func TestCloseUnderLoad(t *testing.T) {
	warmup := int64(2000)
	if raceEnabled {
		warmup = 300
	}
	for _, p := range policies {
		for _, b := range closeBackings() {
			t.Run(p.String()+"/"+b.name, func(t *testing.T) {
				as, err := mmap.New(mmap.Config{Policy: p})
				require.NoError(t, err)
				require.NoError(t, b.mmap(as, arenaBase))
				var vs violations
				var ops atomic.Int64
				check := func(who string, err error) bool {
					var se *mmap.SignalError
					switch {
					case err == nil, errors.As(err, &se):
						return true
					case errors.Is(err, mmap.ErrClosed):
						return false
					}
					vs.add("error", "%s: %v", who, err)
					return false
				}
				var wg sync.WaitGroup
				for w := range 3 { // readers and writers
					th := as.NewThreadNamed(fmt.Sprint("worker", w))
					wg.Go(func() {
						defer th.Close()
						rng := rand.New(rand.NewPCG(uint64(w), 1))
						for i := 0; i < 1<<20; i++ {
							addr := arenaBase + rng.Uint64N(closeLoadPages)*mmap.PageSize
							var err error
							if rng.IntN(4) == 0 {
								err = th.WriteUint64(addr+8, val(uint64(w), uint64(i)))
							} else {
								var v uint64
								v, err = th.ReadUint64(addr + 8)
								if err == nil && v == poison {
									vs.add("poison", "%s read a freed frame at %#x", th.Name(), addr)
								}
							}
							ops.Add(1)
							if !check(th.Name(), err) {
								return
							}
						}
						vs.add("unbounded", "%s never saw Close", th.Name())
					})
				}
				remapper := as.NewThreadNamed("remapper")
				wg.Go(func() { // unmaps, maps again, drops and populates pages
					defer remapper.Close()
					rng := rand.New(rand.NewPCG(9, 9))
					for i := 0; i < 1<<20; i++ {
						var err error
						pg := arenaBase + rng.Uint64N(closeLoadPages)*mmap.PageSize
						switch rng.IntN(4) {
						case 0:
							if err = remapper.Munmap(pg, mmap.PageSize); err == nil {
								err = b.mmap(as, arenaBase)
							}
						case 1:
							err = remapper.Madvise(pg, mmap.PageSize, mmap.MadvDontneed)
						case 2:
							err = as.Madvise(arenaBase, closeLoadPages*mmap.PageSize, mmap.MadvPopulateRead)
						default:
							err = remapper.Mprotect(pg, mmap.PageSize, mmap.ProtRead|mmap.ProtWrite)
						}
						if errors.Is(err, mmap.ENOMEM) || errors.Is(err, mmap.EFAULT) {
							err = nil // a page unmapped meanwhile
						}
						if !check("remapper", err) {
							return
						}
					}
					vs.add("unbounded", "the remapper never saw Close")
				})
				require.True(t, waitFor(time.Minute, func() bool { return ops.Load() >= warmup || vs.count() > 0 }), "the workers made no progress")
				require.Zero(t, vs.count(), vs.String())
				closeCensus(t, as)
				wg.Wait()
				require.Zero(t, vs.count(), vs.String())
				require.Zero(t, as.Stats().Threads)
				if b.after != nil {
					b.after(t)
				}
			})
		}
	}
}

var _ fault.FrameCache = fastKeeper{}
