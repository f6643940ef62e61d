//go:build tools

// Package tools pins the versions of the command-line tools that .ci/run
// invokes with `go run`, so that go.sum records them.
package tools

import (
	_ "golang.org/x/perf/cmd/benchstat"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
