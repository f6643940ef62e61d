package pgtable

// Words returns the 512 words of frame p, for callers that cache a
// translation (a TLB entry) and want to skip the chunk lookup on every
// access. The words must be accessed only with sync/atomic, and never
// written for ZeroPFN; the pointer stays valid (and keeps pointing at
// frame p's storage) for the life of f, even after p is freed, so a
// stale pointer reads poison rather than faulting — exactly what a stale
// TLB entry does. Safe for concurrent use.
func (f *Frames) Words(p PFN) *[WordsPerPage]uint64 { return f.frame(p) }
