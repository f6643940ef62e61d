package pgtable

import "testing"

func TestPTE(t *testing.T) {
	tests := []struct {
		e       PTE
		pfn     PFN
		present bool
		flags   PTE
		str     string
	}{
		{0, 0, false, 0, "none"},
		{MakePTE(12, PTEPresent|PTERead|PTEWrite|PTEDirty|PTEAccessed), 12, true, PTEPresent | PTERead | PTEWrite | PTEDirty | PTEAccessed, "pfn=12 rw-da"},
		{MakePTE(ZeroPFN, PTEPresent|PTERead|PTEZero), 0, true, PTEPresent | PTERead | PTEZero, "pfn=0 r--z"},
		{MakePTE(^PFN(0), PTEPresent|PTEExec), ^PFN(0), true, PTEPresent | PTEExec, "pfn=4294967295 --x"},
		{MakePTE(7, PTEPresent), 7, true, PTEPresent, "pfn=7 ---"},
		{MakePTE(8, PTEPresent|PTERead|PTEAnon), 8, true, PTEPresent | PTERead | PTEAnon, "pfn=8 r--A"},
		{MakePTE(7, PTERead), 7, false, PTERead, "pfn=7 r-- !p"},
		// Flag bits beyond the low 12 do not leak into the frame number.
		{MakePTE(3, PTEPresent|1<<20), 3, true, PTEPresent, "pfn=3 ---"},
	}
	for _, tc := range tests {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.e.PFN(); got != tc.pfn {
				t.Errorf("PFN = %d, want %d", got, tc.pfn)
			}
			if got := tc.e.Present(); got != tc.present {
				t.Errorf("Present = %v, want %v", got, tc.present)
			}
			if got := tc.e.Flags(); got != tc.flags {
				t.Errorf("Flags = %#x, want %#x", got, tc.flags)
			}
			if got := tc.e.String(); got != tc.str {
				t.Errorf("String = %q, want %q", got, tc.str)
			}
		})
	}
}
