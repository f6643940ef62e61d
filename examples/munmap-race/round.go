package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vmsim/vmsim/fault"
	"github.com/vmsim/vmsim/mmap"
	"github.com/vmsim/vmsim/trace"
)

const (
	filePages = 16
	readPage  = 5                     // the page T reads
	fileMagic = 0xf11e_0000_0000_0000 // word 0 of page n holds fileMagic + n
)

// result is what one round recorded. Times are ns on the round's trace
// clock.
type result struct {
	policy     mmap.Policy
	addr       uint64 // the mapping
	readAddr   uint64 // the word T reads
	readStart  int64  // T began its read
	faultSeen  int64  // U saw that T's fault had begun
	unmap      [2]int64
	readEnd    int64 // T's read returned
	value      uint64
	readErr    error // T's read: nil or *mmap.SignalError
	againValue uint64
	againErr   error      // T's next read, begun after munmap returned: must be SIGSEGV
	checkErr   error      // AddressSpace.Check after the round
	stats      mmap.Stats // after T's racing read, before its next one
	file       fault.FileStats
	rec        *trace.Recorder
}

// runRound maps the file, starts T's read of an uncached page, and
// unmaps the file from U while T's fault sleeps.
func runRound(p mmap.Policy, q mmap.Quirks, latency, delay time.Duration) (*result, error) {
	rec := trace.NewRecorder()
	as, err := mmap.New(mmap.Config{Policy: p, Quirks: q, Trace: rec, PhysPages: 256})
	if err != nil {
		return nil, err
	}
	defer as.Close()

	data := make([]byte, filePages*mmap.PageSize)
	for n := range filePages {
		binary.LittleEndian.PutUint64(data[n*mmap.PageSize:], fileMagic+uint64(n))
	}
	file := mmap.NewFile("slow.dat", data, mmap.FileOptions{MissLatency: latency})

	t, u := as.NewThreadNamed("T"), as.NewThreadNamed("U")
	addr, err := u.Mmap(0, filePages*mmap.PageSize, mmap.ProtRead, mmap.MapShared, file, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	r := &result{policy: p, addr: addr, readAddr: addr + readPage*mmap.PageSize, rec: rec}

	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readStart = rec.Now()
		r.value, r.readErr = t.ReadUint64(r.readAddr)
		r.readEnd = rec.Now()
	}()

	// Wait until T's fault has begun (Stats counts it on entry), then
	// give it time to reach the page-cache read.
	for deadline := time.Now().Add(10 * time.Second); as.Stats().Pgfault == 0; {
		if time.Now().After(deadline) {
			return nil, errors.New("the fault of thread T never began")
		}
		runtime.Gosched()
	}
	r.faultSeen = rec.Now()
	time.Sleep(delay)
	r.unmap[0] = rec.Now()
	err = u.Munmap(addr, filePages*mmap.PageSize)
	r.unmap[1] = rec.Now()
	<-done
	if err != nil {
		return nil, fmt.Errorf("munmap: %w", err)
	}
	r.stats = as.Stats() // the racing fault's counters, before the next read adds its own
	r.againValue, r.againErr = t.ReadUint64(r.readAddr)
	r.checkErr = as.Check()
	r.file = file.Stats()
	return r, nil
}
