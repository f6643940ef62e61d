package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Window is a range [Base, Base+Size) of the test process's address space
// that a Harness owns. The zero Window is empty.
//
// Window is a plain value: it is safe to copy and to use from any goroutine.
type Window struct {
	Base, Size uint64
}

// DefaultWindow is 1 GiB at 32 TiB: far above the Go heap's arena hints
// (0xc000000000 and up) and far below the kernel's top-down mmap area,
// which starts 128 MiB or more below the stack near 0x7fff_ffff_f000.
var DefaultWindow = Window{Base: 0x200000000000, Size: 1 << 30}

// End returns Base+Size.
func (w Window) End() uint64 { return w.Base + w.Size }

// Contains reports whether [addr, addr+length) lies inside the window. A
// range whose end overflows is never contained; an empty range is
// contained if addr is inside or at the end of the window.
func (w Window) Contains(addr, length uint64) bool {
	end := addr + length
	if end < addr {
		return false
	}
	return addr >= w.Base && end <= w.End()
}

// Overlaps reports whether [start, end) intersects the window.
func (w Window) Overlaps(start, end uint64) bool {
	return start < w.End() && end > w.Base
}

// Mapping is one line of /proc/<pid>/maps.
//
// Mapping is a plain value: safe to copy and to use from any goroutine.
type Mapping struct {
	Start, End uint64
	// Perms is the four-character permission field, e.g. "rw-p" or
	// "r--s"; the last character is 's' for VM_MAYSHARE mappings.
	Perms  string
	Offset uint64 // byte offset into the file (vm_pgoff << PAGE_SHIFT)
	Dev    string // "maj:min"
	Inode  uint64
	Path   string // "" for anonymous memory; "/dev/zero (deleted)" for shared anonymous
	// VmFlags are the two-letter vm_flags mnemonics of /proc/<pid>/smaps
	// ("rd", "wr", "ac", ...); only ParseSmaps fills them in.
	VmFlags []string
}

// HasFlag reports whether m.VmFlags contains the mnemonic f.
func (m Mapping) HasFlag(f string) bool {
	for _, g := range m.VmFlags {
		if g == f {
			return true
		}
	}
	return false
}

// String formats m the way show_map_vma() does (without the padding).
func (m Mapping) String() string {
	return fmt.Sprintf("%x-%x %s %08x %s %d %s", m.Start, m.End, m.Perms, m.Offset, m.Dev, m.Inode, m.Path)
}

// ParseMaps parses the text of /proc/<pid>/maps (mirrors the format of
// fs/proc/task_mmu.c: show_map_vma()).
//
// ParseMaps is safe for concurrent use.
func ParseMaps(r io.Reader) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// ParseSmaps parses the text of /proc/<pid>/smaps: the maps lines, each
// followed by counters (ignored) and a VmFlags line (fs/proc/task_mmu.c:
// show_smap(), show_smap_vma_flags()).
//
// ParseSmaps is safe for concurrent use.
func ParseSmaps(r io.Reader) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		first, _, _ := strings.Cut(line, " ")
		if strings.HasSuffix(first, ":") {
			if first == "VmFlags:" && len(out) > 0 {
				out[len(out)-1].VmFlags = strings.Fields(line)[1:]
			}
			continue
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

var errBadMaps = errors.New("kernel: malformed maps line")

func parseMapsLine(line string) (Mapping, error) {
	// start-end perms offset dev inode [path]; the path may contain spaces.
	var m Mapping
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	rng := strings.SplitN(fields[0], "-", 2)
	if len(rng) != 2 {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	var err error
	if m.Start, err = strconv.ParseUint(rng[0], 16, 64); err != nil {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	if m.End, err = strconv.ParseUint(rng[1], 16, 64); err != nil {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	m.Perms = fields[1]
	if m.Offset, err = strconv.ParseUint(fields[2], 16, 64); err != nil {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	m.Dev = fields[3]
	if m.Inode, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
		return m, fmt.Errorf("%w: %q", errBadMaps, line)
	}
	if len(fields) > 5 {
		// Keep the path verbatim, including inner spaces: skip five
		// fields and the blanks that pad the sixth.
		rest := line
		for i := 0; i < 5; i++ {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[strings.IndexAny(rest+" ", " \t"):]
		}
		m.Path = strings.TrimSpace(rest)
	}
	return m, nil
}
