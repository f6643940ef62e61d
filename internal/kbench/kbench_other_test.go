//go:build !linux || !(amd64 || arm64)

package kbench_test

import (
	"errors"
	"testing"

	"github.com/vmsim/vmsim/internal/kbench"
)

// Where there is no Linux kernel, nothing is faked: every call fails.
func TestUnsupportedEverywhereElse(t *testing.T) {
	if kbench.Supported() {
		t.Fatal("Supported() = true without Linux")
	}
	if _, err := kbench.MapRegion(kbench.PageSize, kbench.ProtRead); !errors.Is(err, kbench.ErrUnsupported) {
		t.Errorf("MapRegion: %v, want ErrUnsupported", err)
	}
	if _, err := kbench.Fill(10); !errors.Is(err, kbench.ErrUnsupported) {
		t.Errorf("Fill: %v, want ErrUnsupported", err)
	}
	if _, _, err := kbench.ThreadFaults(); !errors.Is(err, kbench.ErrUnsupported) {
		t.Errorf("ThreadFaults: %v, want ErrUnsupported", err)
	}
}
