package mmap_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryNeedsOnlyTheStandardLibrary: the library's packages import
// nothing outside the standard library and this module, so that another
// module can build against it (through a replace directive too) with no
// go.sum entries for vmsim's own dependencies, which only its tests and
// tools use.
func TestLibraryNeedsOnlyTheStandardLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the imports with: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/vmsim/vmsim/mmap", "github.com/vmsim/vmsim/fault", "github.com/vmsim/vmsim/trace").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, "github.com/vmsim/vmsim/") {
			t.Errorf("the library imports %s", pkg)
		}
	}
}
