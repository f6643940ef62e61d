package mmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/vmsim/vmsim/vma"
)

// WriteMaps writes the mappings in the format of /proc/pid/maps
// (fs/proc/task_mmu.c: show_map_vma): "start-end perms offset dev inode",
// padded to column 73 before the name of a named mapping. Anonymous
// private memory has no name; shared anonymous memory is
// "/dev/zero (deleted)" as on Linux. vmsim has no devices: dev is 00:00
// and the inode is the file's inode number.
func (as *AddressSpace) WriteMaps(w io.Writer) error {
	if w == nil {
		return errors.New("mmap: WriteMaps with a nil io.Writer")
	}
	as.mm.ReadLock()
	defer as.mm.ReadUnlock()
	bw := bufio.NewWriter(w)
	for _, v := range as.mm.Tree.Snapshot().VMAs() {
		m := mappingOf(v)
		share := 'p'
		if v.Flags&flagMayShare != 0 {
			share = 's'
		}
		var ino uint64
		if f, ok := v.Backing.(*File); ok {
			ino = f.Ino()
		}
		line := fmt.Sprintf("%08x-%08x %s%c %08x 00:00 %d ", m.Start, m.End, m.Prot, share, m.Offset, ino)
		if m.Name != "" {
			for len(line) < 73 {
				line += " "
			}
			line += m.Name
		}
		if _, err := bw.WriteString(line + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

var _ vma.Backing = (*File)(nil)
