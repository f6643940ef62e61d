package kernel

import (
	"fmt"
	"strings"
	"testing"
)

const sampleMaps = `55f1a348e000-55f1a3490000 r--p 00000000 fe:00 247026                     /usr/bin/cat
200000000000-200000002000 rw-s 00001000 00:01 25                         /dev/zero (deleted)
200000002000-200000003000 ---p 00000000 00:00 0 
7ffc55674000-7ffc55695000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 r--p 00000000 fe:00 12                         /tmp/a file with spaces
`

func TestParseMaps(t *testing.T) {
	ms, err := ParseMaps(strings.NewReader(sampleMaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("got %d entries", len(ms))
	}
	want := Mapping{Start: 0x200000000000, End: 0x200000002000, Perms: "rw-s", Offset: 0x1000, Dev: "00:01", Inode: 25, Path: "/dev/zero (deleted)"}
	if fmt.Sprint(ms[1]) != fmt.Sprint(want) {
		t.Errorf("shared anonymous line: %+v", ms[1])
	}
	if ms[2].Path != "" || ms[2].Inode != 0 || ms[2].Perms != "---p" {
		t.Errorf("anonymous line: %+v", ms[2])
	}
	if ms[3].Path != "[stack]" {
		t.Errorf("stack line: %+v", ms[3])
	}
	if ms[4].Path != "/tmp/a file with spaces" {
		t.Errorf("path with spaces: %q", ms[4].Path)
	}
	if _, err := ParseMaps(strings.NewReader("garbage\n")); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestParseSmaps(t *testing.T) {
	const smaps = `200000000000-200000003000 rw-p 00000000 00:00 0 
Size:                 12 kB
Rss:                   4 kB
VmFlags: rd wr mr mw me ac 
200000003000-200000004000 r--p 00000000 00:00 0 
Size:                  4 kB
VmFlags: rd mr mw me gd rr 
`
	ms, err := ParseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !ms[0].HasFlag("ac") || ms[0].HasFlag("gd") || !ms[1].HasFlag("gd") || !ms[1].HasFlag("rr") {
		t.Errorf("parsed %+v", ms)
	}
}

func TestWindow(t *testing.T) {
	w := Window{Base: 0x1000, Size: 0x2000}
	for _, c := range []struct {
		addr, length uint64
		want         bool
	}{
		{0x1000, 0x2000, true}, {0x1000, 0x2001, false}, {0xfff, 1, false},
		{0x2fff, 1, true}, {0x3000, 0, true}, {^uint64(0), 2, false},
	} {
		if got := w.Contains(c.addr, c.length); got != c.want {
			t.Errorf("Contains(%#x, %#x) = %v", c.addr, c.length, got)
		}
	}
	if !w.Overlaps(0, 0x1001) || w.Overlaps(0, 0x1000) || w.Overlaps(0x3000, 0x4000) {
		t.Error("Overlaps")
	}
}

func TestCheckRange(t *testing.T) {
	w := Window{Base: 0x10000, Size: 0x10000}
	if err := checkRange(w, "x", 0x10001, 0x1000); err != nil {
		t.Errorf("unaligned start inside: %v", err)
	}
	// Rounding up the length may leave the window.
	if err := checkRange(w, "x", 0x1f000, 1); err != nil {
		t.Errorf("last page: %v", err)
	}
	if err := checkRange(w, "x", 0x1f001, 0x1000); err == nil {
		t.Error("range rounding past the end accepted")
	}
	if err := checkRange(w, "x", 0x10000, ^uint64(0)); err == nil {
		t.Error("overflowing length accepted")
	}
}

// ExampleParseMaps reads /proc/pid/maps text.
func ExampleParseMaps() {
	ms, _ := ParseMaps(strings.NewReader(
		"200000000000-200000002000 rw-s 00001000 00:01 25    /dev/zero (deleted)\n" +
			"200000002000-200000003000 ---p 00000000 00:00 0\n"))
	for _, m := range ms {
		fmt.Printf("%#x %d pages %s %q\n", m.Start, (m.End-m.Start)/4096, m.Perms, m.Path)
	}
	// Output:
	// 0x200000000000 2 pages rw-s "/dev/zero (deleted)"
	// 0x200000002000 1 pages ---p ""
}
