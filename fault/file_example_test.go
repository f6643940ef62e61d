package fault_test

import (
	"fmt"

	"github.com/vmsim/vmsim/fault"
)

// A File is an in-memory file: two opens share its contents, a read-only
// open refuses writes, and truncation cuts it.
func ExampleFile() {
	f := fault.NewFile("/etc/motd", []byte("hello, world\n"), fault.FileOptions{})
	ro := f.OpenReadOnly()

	_, err := ro.WriteAt([]byte("HELLO"), 0)
	fmt.Println("read-only write:", err)

	f.WriteAt([]byte("HELLO"), 0)
	f.Truncate(5)
	b := make([]byte, 16)
	n, err := ro.ReadAt(b, 0)
	fmt.Printf("read %q (%v), size %d, %d page\n", b[:n], err, ro.Size(), ro.Pages())

	s := fault.NewShmem(3 * 4096)
	fmt.Println(s.Name(), s.Pages(), "pages")
	// Output:
	// read-only write: fault: file not open for writing
	// read "HELLO" (EOF), size 5, 1 page
	// /dev/zero (deleted) 3 pages
}
