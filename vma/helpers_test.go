package vma

import (
	"strings"
	"sync"
)

// countingBacking counts Open and Close calls per VMA object.
type countingBacking struct {
	name string
	mu   sync.Mutex
	open map[*VMA]int
	shut map[*VMA]int
}

func newCountingBacking(name string) *countingBacking {
	return &countingBacking{name: name, open: map[*VMA]int{}, shut: map[*VMA]int{}}
}

func (b *countingBacking) Name() string { return b.name }
func (b *countingBacking) Open(v *VMA) {
	b.mu.Lock()
	b.open[v]++
	b.mu.Unlock()
}
func (b *countingBacking) Close(v *VMA) {
	b.mu.Lock()
	b.shut[v]++
	b.mu.Unlock()
}
func (b *countingBacking) opens(v *VMA) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open[v]
}
func (b *countingBacking) closes(v *VMA) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shut[v]
}

// releaseCounter is a release func that counts calls per VMA.
type releaseCounter struct {
	mu sync.Mutex
	n  map[*VMA]int
}

func newReleaseCounter() *releaseCounter { return &releaseCounter{n: map[*VMA]int{}} }

func (r *releaseCounter) release(v *VMA) {
	r.mu.Lock()
	r.n[v]++
	r.mu.Unlock()
}

func (r *releaseCounter) count(v *VMA) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[v]
}

// fataler is what testing.TB and *rapid.T have in common.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// mustPanic runs f and fails unless it panics with a message containing
// want.
func mustPanic(t fataler, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one containing %q", want)
		}
		msg, _ := r.(string)
		if err, ok := r.(error); ok {
			msg = err.Error()
		}
		if !strings.Contains(msg, want) {
			t.Fatalf("panic %q; want one containing %q", msg, want)
		}
	}()
	f()
}

// pages converts a page count to bytes.
func pages(n uint64) uint64 { return n * PageSize }

// insertCommit inserts vs in one Txn and commits it.
func insertCommit(t *Tree, vs ...*VMA) {
	tx := t.Begin()
	for _, v := range vs {
		tx.Insert(v)
	}
	tx.Commit()
}
