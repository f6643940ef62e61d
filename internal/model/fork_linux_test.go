package model_test

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vmsim/vmsim/internal/kernel"
	"github.com/vmsim/vmsim/internal/model"
)

// The fork differential test: random sequences of the differential
// calls in the parent, and now and then a fork (Model.Fork against a raw
// fork(2) of the test process, see kernel.Harness.Fork) whose child runs
// its own random calls, loads and stores; the child's results, contents
// and layout (its /proc/self/smaps in the window) are compared with the
// model's child, and the parent goes on, compared as before, seeing the
// child's stores to shared memory and nothing else of it.
//
// Reproduce a failure with VMSIM_SEED=<seed> (printed on failure).

// childCall is one call of the child's program with the check of its
// result against the model.
type childCall struct {
	call  kernel.ChildCall
	desc  string
	check func(ret uintptr, e model.Errno)
}

// forkRound forks the model and the kernel, runs n random calls in the
// child, then loads of sampled pages, and compares.
func (d *diff) forkRound(n int) {
	d.t.Helper()
	child := d.m.Fork()
	d.record("fork")
	var prog []childCall
	for range n {
		prog = append(prog, d.childStep(child)...)
	}
	for range 24 {
		prog = append(prog, d.childLoad(child, d.page()+uint64(d.rng.IntN(P))))
	}
	calls := make([]kernel.ChildCall, len(prog))
	for i, c := range prog {
		calls[i] = c.call
	}
	res, err := d.kb.h.Fork(calls)
	if err != nil {
		d.t.Fatalf("seed %d: fork: %v", d.seed, err)
	}
	for i, c := range prog {
		d.record("  child: %s", c.desc)
		d.kinds["child "+c.desc[:min(len(c.desc), 5)]]++
		c.check(res.Rets[i], model.Errno(res.Errnos[i]))
	}
	d.compareMappings(res.Smaps, d.windowVMAsOf(child))
	d.kinds["fork"]++
}

func (d *diff) childErrno(what string, me, ke model.Errno) {
	d.t.Helper()
	if me != ke {
		d.failf("child %s: errno model %s, kernel %s", what, me.Name(), ke.Name())
	}
}

// childStep draws one call for the child, runs it on the child's model
// and returns it (a store the model refuses for protection becomes a
// load, as in doStore).
func (d *diff) childStep(m *model.Model) []childCall {
	w := d.kb.h.Window()
	addr, length := d.addr(), d.length()
	switch r := d.rng.IntN(100); {
	case r < 20:
		prot := d.prot()
		flags := model.MapFixed
		if d.rng.IntN(4) == 0 {
			flags = model.MapFixedNoreplace
		}
		var f *model.File
		fd := ^uintptr(0)
		var off uint64
		switch d.rng.IntN(6) {
		case 0:
			f = d.files[d.rng.IntN(len(d.files))]
			fd, off = uintptr(d.kb.fd(f)), uint64(d.rng.IntN(10))*P
			flags |= []uint32{model.MapPrivate, model.MapShared}[d.rng.IntN(2)]
		case 1:
			flags |= model.MapShared | model.MapAnonymous
		default:
			flags |= model.MapPrivate | model.MapAnonymous
		}
		if d.rng.IntN(8) == 0 {
			flags |= model.MapLocked
		}
		if d.rng.IntN(10) == 0 {
			flags |= model.MapGrowsDown
		}
		if !w.Contains(addr, (length+P-1)&^(P-1)) || length == 0 {
			addr, length = d.page(), P
		}
		mr, me := m.Mmap(addr, length, prot, flags, f, off)
		desc := fmt.Sprintf("mmap(%s, %#x, %#x, %#x, %s, %#x)", d.rel(addr), length, prot, flags, fileName(f), off)
		return []childCall{{kernel.ChildCall{Nr: syscall.SYS_MMAP, Args: [6]uintptr{uintptr(addr), uintptr(length), uintptr(prot), uintptr(flags), fd, uintptr(off)}}, desc,
			func(ret uintptr, ke model.Errno) {
				d.childErrno(desc, me, ke)
				if me == 0 && uint64(ret) != mr {
					d.failf("child %s: model %s, kernel %s", desc, d.rel(mr), d.rel(uint64(ret)))
				}
			}}}
	case r < 32:
		me := m.Munmap(addr, length)
		desc := fmt.Sprintf("munmap(%s, %#x)", d.rel(addr), length)
		return []childCall{{kernel.ChildCall{Nr: syscall.SYS_MUNMAP, Args: [6]uintptr{uintptr(addr), uintptr(length)}}, desc,
			func(_ uintptr, ke model.Errno) { d.childErrno(desc, me, ke) }}}
	case r < 50:
		prot := d.prot()
		me := m.Mprotect(addr, length, prot)
		desc := fmt.Sprintf("mprotect(%s, %#x, %#x)", d.rel(addr), length, prot)
		return []childCall{{kernel.ChildCall{Nr: syscall.SYS_MPROTECT, Args: [6]uintptr{uintptr(addr), uintptr(length), uintptr(prot)}}, desc,
			func(_ uintptr, ke model.Errno) { d.childErrno(desc, me, ke) }}}
	case r < 62:
		advices := []int{model.MadvDontneed, model.MadvFree, model.MadvRandom, model.MadvDontfork,
			model.MadvWipeonfork, model.MadvKeeponfork, model.MadvHugepage, model.MadvPopulateWrite}
		adv := advices[d.rng.IntN(len(advices))]
		me := m.Madvise(addr, length, adv)
		desc := fmt.Sprintf("madvise(%s, %#x, %d)", d.rel(addr), length, adv)
		return []childCall{{kernel.ChildCall{Nr: syscall.SYS_MADVISE, Args: [6]uintptr{uintptr(addr), uintptr(length), uintptr(adv)}}, desc,
			func(_ uintptr, ke model.Errno) { d.childErrno(desc, me, ke) }}}
	case r < 70:
		// A fixed move inside the window, or a resize in place.
		newLen, newAddr := d.length(), uint64(0)
		flags := uint32(0)
		if d.rng.IntN(2) == 0 {
			flags, newAddr = model.MremapMaymove|model.MremapFixed, d.page()
			if !w.Contains(newAddr, (newLen+P-1)&^(P-1)) {
				newLen = P
			}
		}
		mr, me := m.Mremap(addr, length, newLen, flags, newAddr)
		desc := fmt.Sprintf("mremap(%s, %#x, %#x, %d, %s)", d.rel(addr), length, newLen, flags, d.rel(newAddr))
		return []childCall{{kernel.ChildCall{Nr: syscall.SYS_MREMAP, Args: [6]uintptr{uintptr(addr), uintptr(length), uintptr(newLen), uintptr(flags), uintptr(newAddr)}}, desc,
			func(ret uintptr, ke model.Errno) {
				d.childErrno(desc, me, ke)
				if me == 0 && uint64(ret) != mr {
					d.failf("child %s: model %s, kernel %s", desc, d.rel(mr), d.rel(uint64(ret)))
				}
			}}}
	case r < 85:
		return []childCall{d.childStore(m, d.page()+uint64(d.rng.IntN(P)), byte(1+d.rng.IntN(255)))}
	}
	return []childCall{d.childLoad(m, d.page()+uint64(d.rng.IntN(P)))}
}

// childStore is doStore for the child.
func (d *diff) childStore(m *model.Model, a uint64, v byte) childCall {
	me := m.Store(a, v)
	if me == model.EACCES {
		// The forced write would succeed: read instead (see doStore).
		c := d.childLoad(m, a)
		c.desc = fmt.Sprintf("store(%s) → EACCES; read instead", d.rel(a))
		c.check = func(uintptr, model.Errno) {}
		return c
	}
	desc := fmt.Sprintf("store(%s, %d) → %s", d.rel(a), v, me.Name())
	return childCall{kernel.ChildCall{Nr: kernel.ChildStore, Args: [6]uintptr{uintptr(a), uintptr(v)}}, desc,
		func(_ uintptr, ke model.Errno) {
			if (me == 0) != (ke == 0) || me != 0 && ke != model.EIO {
				d.failf("child %s: kernel %s", desc, ke.Name())
			}
		}}
}

// childLoad is checkLoad for the child.
func (d *diff) childLoad(m *model.Model, a uint64) childCall {
	mv, me := m.Load(a)
	lazy := m.LazyFree(a)
	desc := fmt.Sprintf("load(%s) → %d %s", d.rel(a), mv, me.Name())
	return childCall{kernel.ChildCall{Nr: kernel.ChildLoad, Args: [6]uintptr{uintptr(a)}}, desc,
		func(ret uintptr, ke model.Errno) {
			switch {
			case me == model.EACCES:
			case me != 0:
				if ke != model.EIO {
					d.failf("child %s: kernel %s (want EIO)", desc, ke.Name())
				}
			case ke != 0:
				d.failf("child %s: kernel %s", desc, ke.Name())
			case byte(ret) != mv && !(ret == 0 && lazy):
				d.failf("child %s: kernel %d", desc, byte(ret))
			}
		}}
}

// TestKernelForkDifferential runs seeded random sequences in which the
// parent forks now and then, comparing the model's child with the
// kernel's (a raw fork(2) child running the same calls) and the parent
// with the kernel's parent afterwards.
func TestKernelForkDifferential(t *testing.T) {
	seeds := []uint64{uint64(time.Now().UnixNano()), 1, 2}
	if s := os.Getenv("VMSIM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	}
	calls := envInt("VMSIM_CALLS", 200)
	if testing.Short() {
		calls /= 5
	}
	kinds := map[string]int{}
	for _, seed := range seeds {
		d := newDiff(t, seed)
		for round := range 4 {
			for range calls / 4 {
				d.step()
			}
			d.forkRound(20 + round*10)
			d.compareLayout() // the parent is unchanged by its child
			for range 16 {
				d.checkLoad(d.page() + uint64(d.rng.IntN(P)))
			}
		}
		for k, n := range d.kinds {
			kinds[k] += n
		}
		d.close()
	}
	t.Logf("seeds %v; compared by kind: %v", seeds, kinds)
}
