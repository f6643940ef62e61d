package model_test

import (
	"testing"

	"github.com/vmsim/vmsim/internal/model"
)

// The map-count limit cannot be tested against the kernel from inside a Go
// test: at the limit the Go runtime itself can no longer mmap and dies.
// These expectations were measured on Linux 6.18 with a C program that
// filled vm.max_map_count with single-page VMAs and tried each operation
// at each distance from the limit (see the package report), and match the
// checks in mm/mmap.c: do_mmap() ("map_count > sysctl_max_map_count"),
// mm/vma.c: vms_gather_munmap_vmas() and split_vma() ("map_count >=
// sysctl_max_map_count"), mm/mremap.c: check_mremap_params()
// ("map_count + 2 >= max - 3") and prep_move_vma() ("map_count >= max - 3").

const maxMaps = 20

// mapCountModel returns a model with a 10-page rwx VMA at base and filler
// VMAs so that the map count is maxMaps+delta.
func mapCountModel(t *testing.T, delta int) *model.Model {
	t.Helper()
	m := model.New(model.Config{MaxMapCount: maxMaps})
	mustMmap(t, m, testBase, 10*P, model.ProtRead|model.ProtWrite|model.ProtExec, fixedP)
	for i := 0; len(m.VMAs()) < maxMaps+delta; i++ {
		prot := model.ProtRead
		if i%2 == 1 {
			prot |= model.ProtWrite
		}
		// Bypass the mmap limit check by filling below it first; at
		// maxMaps+1 the last mmap is the one do_mmap still allows.
		mustMmap(t, m, testBase+uint64(20+i)*P, P, prot, fixedP)
	}
	if n := len(m.VMAs()); n != maxMaps+delta {
		t.Fatalf("map count %d, want %d", n, maxMaps+delta)
	}
	return m
}

func TestMapCountLimit(t *testing.T) {
	const rwx = model.ProtRead | model.ProtWrite | model.ProtExec
	mid := uint64(testBase + 3*P)
	gap := uint64(testBase + 15*P)
	cases := []struct {
		name string
		op   func(m *model.Model) model.Errno
		// errno at map count max+1, max, max-1, ..., max-6, and the
		// change in map count at max-1.
		want []model.Errno
	}{
		{"mmap new VMA", func(m *model.Model) model.Errno {
			_, e := m.Mmap(gap, P, rwx, fixedP, nil, 0)
			return e
		}, []model.Errno{model.ENOMEM, 0, 0, 0, 0, 0, 0, 0}},
		{"mmap MAP_FIXED in the middle", func(m *model.Model) model.Errno {
			_, e := m.Mmap(mid, P, model.ProtRead, fixedP, nil, 0)
			return e
		}, []model.Errno{model.ENOMEM, model.ENOMEM, 0, 0, 0, 0, 0, 0}},
		{"mmap MAP_FIXED at the head", func(m *model.Model) model.Errno {
			_, e := m.Mmap(testBase, P, model.ProtRead, fixedP, nil, 0)
			return e
		}, []model.Errno{model.ENOMEM, 0, 0, 0, 0, 0, 0, 0}},
		{"munmap in the middle", func(m *model.Model) model.Errno { return m.Munmap(mid, P) },
			[]model.Errno{model.ENOMEM, model.ENOMEM, 0, 0, 0, 0, 0, 0}},
		{"munmap the head", func(m *model.Model) model.Errno { return m.Munmap(testBase, P) },
			[]model.Errno{0, 0, 0, 0, 0, 0, 0, 0}},
		{"mprotect in the middle", func(m *model.Model) model.Errno { return m.Mprotect(mid, P, model.ProtRead) },
			[]model.Errno{model.ENOMEM, model.ENOMEM, model.ENOMEM, 0, 0, 0, 0, 0}},
		{"mprotect the head", func(m *model.Model) model.Errno { return m.Mprotect(testBase, P, model.ProtRead) },
			[]model.Errno{model.ENOMEM, model.ENOMEM, 0, 0, 0, 0, 0, 0}},
		{"madvise in the middle", func(m *model.Model) model.Errno { return m.Madvise(mid, P, model.MadvRandom) },
			[]model.Errno{model.EAGAIN, model.EAGAIN, model.EAGAIN, 0, 0, 0, 0, 0}},
		{"mremap MREMAP_FIXED", func(m *model.Model) model.Errno {
			_, e := m.Mremap(mid, P, P, model.MremapMaymove|model.MremapFixed, gap)
			return e
		}, []model.Errno{model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, 0}},
		{"mremap move (no new address)", func(m *model.Model) model.Errno {
			_, e := m.Mremap(mid, P, 2*P, model.MremapMaymove, 0)
			return e
		}, []model.Errno{model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, model.ENOMEM, 0, 0, 0}},
		{"mremap grow in place", func(m *model.Model) model.Errno {
			_, e := m.Mremap(testBase, 10*P, 11*P, 0, 0)
			return e
		}, []model.Errno{0, 0, 0, 0, 0, 0, 0, 0}},
		{"mremap shrink in the middle", func(m *model.Model) model.Errno {
			_, e := m.Mremap(mid, 2*P, P, 0, 0)
			return e
		}, []model.Errno{model.ENOMEM, model.ENOMEM, 0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, want := range c.want {
				delta := 1 - k
				m := mapCountModel(t, delta)
				if got := c.op(m); got != want {
					t.Errorf("at max%+d: %s, want %s", delta, got.Name(), want.Name())
				}
			}
		})
	}
}

// TestSplitKeptOnFailure checks that an mprotect whose second split fails
// keeps the first split (Linux does not undo it), so /proc/pid/maps shows
// two VMAs with the same attributes.
func TestSplitKeptOnFailure(t *testing.T) {
	m := mapCountModel(t, -1)
	if e := m.Mprotect(testBase+3*P, P, model.ProtRead); e != model.ENOMEM {
		t.Fatalf("mprotect: %s, want ENOMEM", e.Name())
	}
	vs := m.VMAs()
	if vs[0].End != testBase+3*P || vs[1].Start != testBase+3*P || vs[1].End != testBase+10*P || vs[0].Prot != vs[1].Prot {
		t.Errorf("after the failed mprotect: %v %v", vs[0], vs[1])
	}
}
