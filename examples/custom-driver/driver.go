package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmsim/vmsim/fault"
)

// device is a user-written backing, the way a Linux driver's mmap
// installs a vm_operations_struct: it produces the pages of a made-up
// device on demand and keeps them, so that a second fault on a page finds
// it ready. Word 0 of page n holds magic + n.
//
// It implements fault.Ops (Name, Open, Close and the slow path Fault)
// and fault.FrameCache (CachedFrames), which declares the pages it keeps
// so that AddressSpace.Check can count them even when nothing maps them.
// The mapper type below adds fault.PageMapper, the fast path.
//
// A device keeps pages of one physical memory (the Memory of the address
// space that faults first): it serves that address space, and another
// one that maps it gets SIGBUS until the first has unmapped it. (Address
// spaces on one Memory could share the pages; this device keeps to the
// simplest rule.)
//
// Concurrency: every method may be called from any goroutine at any time;
// Fault serialises page production on mu, and the page table (pages) is
// read without a lock, so MapPages never blocks.
type device struct {
	name    string        // immutable
	latency time.Duration // immutable: how long producing a page takes

	mu    sync.Mutex                   // serialises producing and releasing pages, and Open/Close
	pages []atomic.Uint32              // pgoff → the frame holding it (0: none); written under mu, read by MapPages without it
	pool  atomic.Pointer[fault.Frames] // the frames pages came from; written under mu
	vmas  int                          // VMAs that map the device (Open minus Close); protected by mu
}

const magic = 0xde71ce0000000000

func newDevice(name string, pages int, latency time.Duration) *device {
	return &device{name: name, latency: latency, pages: make([]atomic.Uint32, pages)}
}

// Name is the path shown in /proc/pid/maps.
func (d *device) Name() string { return d.name }

// Open is vm_ops->open: one more VMA maps the device.
func (d *device) Open(*fault.VMA) {
	d.mu.Lock()
	d.vmas++
	d.mu.Unlock()
}

// Close is vm_ops->close, called a grace period after a VMA is gone.
// When the last VMA goes the device gives its pages back, as a driver
// frees its buffers on the last close.
func (d *device) Close(*fault.VMA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.vmas--; d.vmas != 0 {
		return
	}
	for i := range d.pages {
		if p := fault.PFN(d.pages[i].Swap(0)); p != 0 {
			d.pool.Load().Put(p)
		}
	}
	d.pool.Store(nil) // free to serve another address space
}

// Pages is fault.Sizer: faults beyond the device get SIGBUS.
func (d *device) Pages() uint64 { return uint64(len(d.pages)) }

// Fault is the slow path: the handler holds a reference on the VMA (or
// its lock), so Fault may sleep. It returns the page with one reference
// for the handler, producing it first if needed. The device's pages are
// frames of the address space that faulted first: a fault from another
// address space, whose physical memory is its own, gets SIGBUS.
func (d *device) Fault(vf *fault.VMFault) fault.Result {
	if vf.Pgoff >= uint64(len(d.pages)) {
		return fault.SIGBUS
	}
	frames := vf.Frames()
	d.mu.Lock()
	defer d.mu.Unlock()
	if pool := d.pool.Load(); pool != nil && pool != frames {
		return fault.SIGBUS
	}
	p := fault.PFN(d.pages[vf.Pgoff].Load())
	var res fault.Result
	if p == 0 {
		if d.latency > 0 {
			time.Sleep(d.latency) // the device at work
		}
		var err error
		if p, err = frames.Alloc(); err != nil {
			return fault.OOM
		}
		frames.Store(p, 0, magic+vf.Pgoff)
		d.pool.Store(frames)
		d.pages[vf.Pgoff].Store(uint32(p)) // the device's own reference
		res = fault.Major
	}
	frames.Get(p) // the handler's reference
	vf.Page = p
	return res
}

// CachedFrames is fault.FrameCache: the pages the device keeps, each with
// the device's own reference.
func (d *device) CachedFrames(frames *fault.Frames) []fault.PFN {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool.Load() != frames {
		return nil
	}
	var out []fault.PFN
	for i := range d.pages {
		if p := fault.PFN(d.pages[i].Load()); p != 0 {
			out = append(out, p)
		}
	}
	return out
}

// mapper is a device that also has the fast path.
type mapper struct{ *device }

// MapPages is fault.PageMapper: called under RCU with no reference on the
// VMA, it maps the pages of [start, end) that the device already has,
// and never blocks. It returns NoPage when the faulting page is mapped,
// Retry when it is not (not produced yet): the handler then takes a
// reference and calls Fault.
func (m mapper) MapPages(vf *fault.VMFault, start, end uint64) fault.Result {
	frames := vf.Frames()
	if m.pool.Load() != frames {
		return fault.Retry // nothing produced yet, or for another address space: Fault decides
	}
	res := fault.Retry
	for pgoff := start; pgoff < end && pgoff < uint64(len(m.pages)); pgoff++ {
		p := fault.PFN(m.pages[pgoff].Load())
		// TryGet fails if Close has just given the frame back.
		if p == 0 || !frames.TryGet(p) {
			continue
		}
		addr := vf.VMA.Start + (pgoff-vf.VMA.Pgoff)*fault.PageSize
		if vf.MapPage(addr, p) && pgoff == vf.Pgoff {
			res = fault.NoPage
		}
		frames.Put(p) // MapPage took the PTE's own reference
	}
	return res
}
