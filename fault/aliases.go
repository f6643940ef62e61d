package fault

import (
	"github.com/vmsim/vmsim/pgtable"
	"github.com/vmsim/vmsim/vma"
)

// PageSize is the size of a page, as pgtable.PageSize and mmap.PageSize:
// a backing computes addresses and offsets with it.
const PageSize = pgtable.PageSize

// Aliases for the types a user-written backing needs, so that it can be
// written against package fault alone.
type (
	// VMA is the virtual memory area a backing's Open, Close and faults
	// see; see vma.VMA.
	VMA = vma.VMA
	// Frames is the physical-frame pool a backing allocates pages from
	// (VMFault.Frames); see pgtable.Frames.
	Frames = pgtable.Frames
	// PFN is a physical frame number; see pgtable.PFN.
	PFN = pgtable.PFN
)
