package mmap_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmsim/vmsim/mmap"
)

// proc is an address space with one thread, for the fork tests.
type proc struct {
	t  *testing.T
	as *mmap.AddressSpace
	th *mmap.Thread
}

func newProc(t *testing.T, cfg mmap.Config) *proc {
	as, err := mmap.New(cfg)
	require.NoError(t, err)
	return &proc{t, as, as.NewThread()}
}

// fork forks p and checks both address spaces.
func (p *proc) fork() *proc {
	c, err := p.th.Fork()
	require.NoError(p.t, err)
	require.NoError(p.t, p.as.Check(), "parent after fork")
	require.NoError(p.t, c.Check(), "child after fork")
	return &proc{p.t, c, c.NewThread()}
}

func (p *proc) mmap(length uint64, prot mmap.Prot, flags mmap.Flag, f *mmap.File) uint64 {
	a, err := p.th.Mmap(0, length, prot, flags, f, 0)
	require.NoError(p.t, err)
	return a
}

func (p *proc) write(addr, v uint64) {
	require.NoError(p.t, p.th.WriteUint64(addr, v), "write %#x", addr)
}

func (p *proc) read(addr uint64) uint64 {
	v, err := p.th.ReadUint64(addr)
	require.NoError(p.t, err, "read %#x", addr)
	return v
}

func (p *proc) close() {
	require.NoError(p.t, p.as.Check())
	p.th.Close()
	require.NoError(p.t, p.as.Close())
}

// TestForkCopyOnWrite: private anonymous pages are shared after fork
// until either side writes; a write in one is never seen by the other;
// the first write copies, and the last holder of a page reuses it in
// place, for every policy.
func TestForkCopyOnWrite(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		mem := mmap.NewMemory(0)
		par := newProc(t, mmap.Config{Policy: pol, Memory: mem})
		a := par.mmap(4*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		for i := range uint64(3) { // page 3 is never touched
			par.write(a+i*mmap.PageSize, 100+i)
		}
		inUse := mem.InUse()
		ch := par.fork()
		require.Equal(t, inUse, mem.InUse(), "fork copies no page")
		for i := range uint64(3) {
			require.EqualValues(t, 100+i, ch.read(a+i*mmap.PageSize))
		}
		require.Zero(t, ch.read(a+3*mmap.PageSize))

		ch.write(a, 1)                  // child copies page 0
		par.write(a+mmap.PageSize, 2)   // parent copies page 1
		par.write(a, 3)                 // the child copied page 0: the parent reuses it
		ch.write(a+mmap.PageSize, 4)    // the parent copied page 1: the child reuses it
		par.write(a+3*mmap.PageSize, 5) // never shared: a fresh page
		require.EqualValues(t, 3, par.read(a))
		require.EqualValues(t, 2, par.read(a+mmap.PageSize))
		require.EqualValues(t, 102, par.read(a+2*mmap.PageSize))
		require.EqualValues(t, 5, par.read(a+3*mmap.PageSize))
		require.EqualValues(t, 1, ch.read(a))
		require.EqualValues(t, 4, ch.read(a+mmap.PageSize))
		require.EqualValues(t, 102, ch.read(a+2*mmap.PageSize))
		require.Zero(t, ch.read(a+3*mmap.PageSize))

		ps, cs := par.as.Stats(), ch.as.Stats()
		require.EqualValues(t, 1, ps.Forks)
		require.Zero(t, cs.Forks)
		require.EqualValues(t, 1, ps.CopyOnWrite, "parent copies")
		require.EqualValues(t, 1, cs.CopyOnWrite, "child copies")
		require.EqualValues(t, 1, ps.Pgreuse, "parent reuses")
		require.EqualValues(t, 1, cs.Pgreuse, "child reuses")
		require.EqualValues(t, 1, ps.Vmstat()["pgreuse"])
		require.EqualValues(t, 1, ps.Vmstat()["vmsim_forks"])
		require.Equal(t, inUse+3, mem.InUse(), "two copies and one fresh page, page 2 still shared")
		ch.close()
		par.close()
		require.Zero(t, mem.InUse())
	})
}

// TestForkShared: shared anonymous and shared file mappings share their
// frames both ways after fork.
func TestForkShared(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		f := mmap.NewFile("/data/shared", make([]byte, 2*mmap.PageSize), mmap.FileOptions{})
		par := newProc(t, mmap.Config{Policy: pol})
		shm := par.mmap(2*mmap.PageSize, rw, mmap.MapShared|mmap.MapAnonymous, nil)
		file := par.mmap(2*mmap.PageSize, rw, mmap.MapShared, f)
		par.write(shm, 1)
		par.write(file, 2)
		ch := par.fork()
		require.EqualValues(t, 1, ch.read(shm))
		require.EqualValues(t, 2, ch.read(file))
		ch.write(shm+8, 3)
		ch.write(file+mmap.PageSize, 4)
		par.write(shm+mmap.PageSize, 5)
		require.EqualValues(t, 3, par.read(shm+8))
		require.EqualValues(t, 4, par.read(file+mmap.PageSize))
		require.EqualValues(t, 5, ch.read(shm+mmap.PageSize))
		var b [8]byte
		_, err := f.ReadAt(b[:], mmap.PageSize)
		require.NoError(t, err)
		require.EqualValues(t, 4, b[0], "the child's store reached the file")
		require.Zero(t, par.as.Stats().CopyOnWrite+ch.as.Stats().CopyOnWrite)
		par.close() // the parent first: the child still maps both
		ch.write(shm, 6)
		require.EqualValues(t, 6, ch.read(shm))
		require.EqualValues(t, 2, ch.read(file))
		ch.close()
	})
}

// TestForkPrivateFile: a private file mapping shares the file's pages
// until a write; the private copies made before the fork are shared
// copy-on-write like anonymous memory; pages never copied still follow
// the file in both.
func TestForkPrivateFile(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		data := make([]byte, 3*mmap.PageSize)
		data[0], data[mmap.PageSize], data[2*mmap.PageSize] = 10, 11, 12
		f := mmap.NewFile("/data/private", data, mmap.FileOptions{})
		par := newProc(t, mmap.Config{Policy: pol})
		a := par.mmap(3*mmap.PageSize, rw, mmap.MapPrivate, f)
		require.EqualValues(t, 10, par.read(a))
		par.write(a+mmap.PageSize, 21) // a private copy of page 1
		ch := par.fork()
		require.EqualValues(t, 10, ch.read(a))
		require.EqualValues(t, 21, ch.read(a+mmap.PageSize))
		require.EqualValues(t, 12, ch.read(a+2*mmap.PageSize))
		ch.write(a+mmap.PageSize, 31)
		ch.write(a, 30)
		require.EqualValues(t, 21, par.read(a+mmap.PageSize), "the parent keeps its private copy")
		require.EqualValues(t, 10, par.read(a), "the child's copy of a file page is its own")
		_, err := f.WriteAt([]byte{42}, 2*mmap.PageSize)
		require.NoError(t, err)
		require.EqualValues(t, 42, par.read(a+2*mmap.PageSize), "a page never copied follows the file")
		require.EqualValues(t, 42, ch.read(a+2*mmap.PageSize))
		par.write(a+mmap.PageSize, 41) // the child copied page 1: reuse
		require.EqualValues(t, 1, par.as.Stats().Pgreuse)
		require.EqualValues(t, 31, ch.read(a+mmap.PageSize))
		ch.close()
		par.close()
	})
}

// TestForkFlags: VM_DONTCOPY ranges are absent from the child, which gets
// SIGSEGV/SEGV_MAPERR there; VM_WIPEONFORK ranges are mapped but read as
// zeros in the child while the parent keeps its data; VM_LOCKED is not
// inherited; the child's /proc/pid/maps is the parent's minus the
// VM_DONTCOPY range.
func TestForkFlags(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		par := newProc(t, mmap.Config{Policy: pol})
		dc := par.mmap(2*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		wf := par.mmap(2*mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapAnonymous, nil)
		lk := par.mmap(mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous|mmap.MapLocked, nil)
		require.NoError(t, par.as.Mprotect(wf, 2*mmap.PageSize, rw))
		par.write(dc, 1)
		par.write(wf, 2)
		par.write(lk, 3)
		require.NoError(t, par.th.Madvise(dc, mmap.PageSize, mmap.MadvDontfork))
		require.NoError(t, par.th.Madvise(wf, 2*mmap.PageSize, mmap.MadvWipeonfork))
		var before bytes.Buffer
		require.NoError(t, par.as.WriteMaps(&before))
		ch := par.fork()

		_, err := ch.th.ReadUint64(dc)
		var se *mmap.SignalError
		require.True(t, errors.As(err, &se), "got %v", err)
		require.Equal(t, mmap.SegvMaperr, se.Code)
		require.EqualValues(t, 0, ch.read(dc+mmap.PageSize), "the part without MADV_DONTFORK is inherited")
		require.Zero(t, ch.read(wf), "VM_WIPEONFORK: zeros in the child")
		require.EqualValues(t, 2, par.read(wf))
		ch.write(wf, 9)
		require.EqualValues(t, 2, par.read(wf))
		require.EqualValues(t, 3, ch.read(lk))

		var want, got bytes.Buffer
		for _, m := range par.as.Mappings() {
			if m.Start != dc {
				want.WriteString(m.Prot.String())
			}
		}
		for _, m := range ch.as.Mappings() {
			require.NotEqual(t, dc, m.Start)
			got.WriteString(m.Prot.String())
		}
		require.Equal(t, want.String(), got.String())
		var after bytes.Buffer
		require.NoError(t, ch.as.WriteMaps(&after))
		wantMaps := bytes.Replace(before.Bytes(), firstLine(before.Bytes(), dc), nil, 1)
		require.Equal(t, string(wantMaps), after.String())

		for _, s := range ch.as.VMAStates() {
			require.False(t, s.Locked, "VM_LOCKED is not inherited: %+v", s)
		}
		require.Zero(t, ch.as.LockedBytes())
		require.EqualValues(t, mmap.PageSize, par.as.LockedBytes())
		ch.close()
		par.close()
	})
}

// firstLine returns the line of a /proc/pid/maps text that starts at addr.
func firstLine(maps []byte, addr uint64) []byte {
	for _, l := range bytes.SplitAfter(maps, []byte("\n")) {
		var start uint64
		for _, c := range l {
			if c == '-' {
				break
			}
			start = start<<4 | uint64(bytes.IndexByte([]byte("0123456789abcdef"), c))
		}
		if start == addr {
			return l
		}
	}
	return nil
}

// TestForkIndependentLayouts: munmap, mprotect, mremap and MADV_DONTNEED
// in one address space leave the other's layout and pages alone, in both
// directions.
func TestForkIndependentLayouts(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		for _, childActs := range []bool{false, true} {
			par := newProc(t, mmap.Config{Policy: pol})
			a := par.mmap(8*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
			for i := range uint64(8) {
				par.write(a+i*mmap.PageSize, i+1)
			}
			ch := par.fork()
			actor, other := par, ch
			if childActs {
				actor, other = ch, par
			}
			layout := other.as.Mappings()
			require.NoError(t, actor.as.Munmap(a, mmap.PageSize))
			require.NoError(t, actor.as.Mprotect(a+mmap.PageSize, mmap.PageSize, mmap.ProtRead))
			require.NoError(t, actor.as.Madvise(a+2*mmap.PageSize, mmap.PageSize, mmap.MadvDontneed))
			_, err := actor.as.Mremap(a+6*mmap.PageSize, 2*mmap.PageSize, 4*mmap.PageSize, mmap.MremapMaymove, 0)
			require.NoError(t, err)
			require.Zero(t, actor.read(a+2*mmap.PageSize), "MADV_DONTNEED: zeros here")
			require.Equal(t, layout, other.as.Mappings(), "the other layout is unchanged")
			for i := range uint64(8) {
				require.EqualValues(t, i+1, other.read(a+i*mmap.PageSize), "page %d", i)
				other.write(a+i*mmap.PageSize, 100+i)
			}
			require.NoError(t, actor.as.Check())
			require.NoError(t, other.as.Check())
			ch.close()
			par.close()
		}
	})
}

// TestForkGrandchildren: a child's child shares the pages of both, and
// the three may be closed in any order, leaving no frame behind and
// passing Check after each close.
func TestForkGrandchildren(t *testing.T) {
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		mem := mmap.NewMemory(0)
		f := mmap.NewFile("/data/g", make([]byte, mmap.PageSize), mmap.FileOptions{})
		gen := [3]*proc{newProc(t, mmap.Config{Memory: mem})}
		a := gen[0].mmap(2*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		s := gen[0].mmap(mmap.PageSize, rw, mmap.MapShared, f)
		gen[0].write(a, 1)
		gen[0].write(a+mmap.PageSize, 1)
		gen[1] = gen[0].fork()
		gen[1].write(a+mmap.PageSize, 2)
		gen[2] = gen[1].fork()
		gen[2].write(s, 3)
		require.EqualValues(t, 1, gen[2].read(a), "a page of the first generation")
		require.EqualValues(t, 2, gen[2].read(a+mmap.PageSize), "a page of the second")
		require.EqualValues(t, 1, gen[0].read(a+mmap.PageSize))
		require.EqualValues(t, 3, gen[0].read(s))
		gen[2].write(a, 4)
		require.EqualValues(t, 1, gen[1].read(a))
		for i, g := range order {
			gen[g].close()
			for _, h := range order[i+1:] {
				require.NoError(t, gen[h].as.Check())
				require.EqualValues(t, 3, gen[h].read(s))
			}
		}
		require.Zero(t, mem.InUse(), "order %v", order)
	}
}

// TestForkErrors: Fork of a closed address space is ErrClosed; running out
// of frames in a copy-on-write fault after fork is that fault's ENOMEM and
// leaves both address spaces whole.
func TestForkErrors(t *testing.T) {
	as, err := mmap.New(mmap.Config{})
	require.NoError(t, err)
	require.NoError(t, as.Close())
	_, err = as.Fork()
	require.ErrorIs(t, err, mmap.ErrClosed)

	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		par := newProc(t, mmap.Config{Policy: pol, PhysPages: 4})
		a := par.mmap(4*mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		for i := range uint64(4) {
			par.write(a+i*mmap.PageSize, i+1)
		}
		ch := par.fork()
		err := ch.th.WriteUint64(a, 9)
		require.ErrorIs(t, err, mmap.ENOMEM, "no frame left for the copy")
		require.ErrorIs(t, par.th.WriteUint64(a, 9), mmap.ENOMEM)
		require.EqualValues(t, 1, ch.read(a), "the shared page is intact")
		require.EqualValues(t, 1, par.read(a))
		require.EqualValues(t, 1, par.as.Stats().OOM)
		require.EqualValues(t, 1, ch.as.Stats().OOM)
		require.NoError(t, par.as.Check())
		require.NoError(t, ch.as.Check())
		ch.close() // frees nothing, but makes the parent's pages its own again
		par.write(a, 9)
		require.EqualValues(t, 9, par.read(a))
		require.EqualValues(t, 1, par.as.Stats().Pgreuse)
		par.close()
	})
}

// TestForkBackingPanics: a backing whose Open panics while Fork copies
// its VMA makes Fork panic once the parent's lock is released, with no
// child left behind (the Memory holds the parent's frames alone) and the
// parent whole and usable; a later fork, once Open behaves, works.
func TestForkBackingPanics(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, pol mmap.Policy) {
		mem := mmap.NewMemory(0)
		par := newProc(t, mmap.Config{Policy: pol, Memory: mem})
		b := &panicky{}
		_, err := par.as.MmapBacking(0, mmap.PageSize, rw, mmap.MapShared, b, 0)
		require.NoError(t, err)
		a := par.mmap(mmap.PageSize, rw, mmap.MapPrivate|mmap.MapAnonymous, nil)
		par.write(a, 1)
		inUse := mem.InUse()
		b.open.Store(true)
		mustPanic(t, "Fork", func() { _, _ = par.as.Fork() })
		b.open.Store(false)
		require.NoError(t, par.as.Check())
		require.Equal(t, inUse, mem.InUse(), "the failed child's frames are gone")
		par.write(a, 2)
		ch := par.fork()
		require.EqualValues(t, 2, ch.read(a))
		ch.close()
		par.close()
		require.Zero(t, mem.InUse())
	})
}
