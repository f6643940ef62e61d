//go:build race

package mmap_test

// raceEnabled reports whether the race detector is on: some tests then
// shrink what they repeat (never what they check).
const raceEnabled = true
