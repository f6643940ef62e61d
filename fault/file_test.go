package fault

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/vmsim/vmsim/pgtable"
)

const ps = pgtable.PageSize

// pattern returns n bytes that differ at every offset mod 251, so a read
// from the wrong place shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + seed + 1
	}
	return b
}

func readAll(t *testing.T, f *File) []byte {
	t.Helper()
	b := make([]byte, f.Size())
	if n, err := f.ReadAt(b, 0); n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt whole file: n=%d err=%v, want %d", n, err, len(b))
	}
	return b
}

func TestFileReadAtWriteAt(t *testing.T) {
	data := pattern(2*ps+100, 0)
	f := NewFile("/data", data, FileOptions{})
	data[0] = 0xee // NewFile copied data
	if f.Name() != "/data" || !f.Writable() || f.Size() != int64(2*ps+100) || f.Pages() != 3 {
		t.Fatalf("Name %q Writable %v Size %d Pages %d", f.Name(), f.Writable(), f.Size(), f.Pages())
	}
	want := pattern(2*ps+100, 0)
	if got := readAll(t, f); !bytes.Equal(got, want) {
		t.Fatal("ReadAt does not return the data NewFile was given")
	}

	// A read crossing the end returns the bytes before it and io.EOF.
	b := make([]byte, 200)
	n, err := f.ReadAt(b, int64(2*ps))
	if n != 100 || err != io.EOF || !bytes.Equal(b[:n], want[2*ps:]) {
		t.Fatalf("ReadAt across EOF: n=%d err=%v", n, err)
	}
	if n, err := f.ReadAt(b, f.Size()+5); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt beyond EOF: n=%d err=%v, want 0, EOF", n, err)
	}
	if _, err := f.ReadAt(b, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReadAt(-1) = %v, want ErrInvalid", err)
	}

	// A write across a page boundary lands on both pages.
	w := pattern(300, 7)
	if n, err := f.WriteAt(w, ps-150); n != 300 || err != nil {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	copy(want[ps-150:], w)
	if got := readAll(t, f); !bytes.Equal(got, want) {
		t.Fatal("WriteAt across a page boundary not read back")
	}
	if _, err := f.WriteAt(w, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("WriteAt(-1) = %v, want ErrInvalid", err)
	}
	if _, err := f.WriteAt(w, MaxFileSize-10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WriteAt past MaxFileSize = %v, want ErrTooLarge", err)
	}
	if f.Size() != int64(2*ps+100) {
		t.Fatalf("failed writes changed the size to %d", f.Size())
	}
}

func TestFileSparseWrite(t *testing.T) {
	f := NewFile("/sparse", nil, FileOptions{})
	if f.Size() != 0 || f.Pages() != 0 {
		t.Fatalf("empty file: Size %d Pages %d", f.Size(), f.Pages())
	}
	if n, err := f.WriteAt(nil, 1<<20); n != 0 || err != nil || f.Size() != 0 {
		t.Fatalf("empty WriteAt: n=%d err=%v size=%d; want no extension", n, err, f.Size())
	}
	off := int64(5*ps + 3)
	if _, err := f.WriteAt([]byte("hole"), off); err != nil {
		t.Fatal(err)
	}
	if f.Size() != off+4 || f.Pages() != 6 {
		t.Fatalf("Size %d Pages %d after writing past a hole", f.Size(), f.Pages())
	}
	got := readAll(t, f)
	if !isZero(got[:off]) || string(got[off:]) != "hole" {
		t.Fatal("the hole before a write does not read as zeros")
	}
	if len(f.ino.disk) != 1 {
		t.Fatalf("disk holds %d pages for one written page; holes should stay sparse", len(f.ino.disk))
	}
}

func TestFileOpenReadOnly(t *testing.T) {
	rw := NewFile("/shared", []byte("hello"), FileOptions{})
	ro := rw.OpenReadOnly()
	if ro.Writable() || ro.Name() != "/shared" {
		t.Fatalf("read-only open: Writable %v Name %q", ro.Writable(), ro.Name())
	}
	if _, err := ro.WriteAt([]byte("x"), 0); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("WriteAt on a read-only open = %v, want ErrNotWritable", err)
	}
	if err := ro.Truncate(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Truncate on a read-only open = %v, want ErrInvalid", err)
	}
	if _, err := rw.WriteAt([]byte(" world"), 5); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, ro)); got != "hello world" {
		t.Fatalf("read-only open reads %q, want the read-write open's write", got)
	}
	if ro.Size() != 11 || ro.Pages() != 1 {
		t.Fatalf("read-only open: Size %d Pages %d", ro.Size(), ro.Pages())
	}
}

func TestFileTruncate(t *testing.T) {
	f := NewFile("/t", pattern(3*ps, 0), FileOptions{})
	if err := f.Truncate(-1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Truncate(-1) = %v, want ErrInvalid", err)
	}
	if err := f.Truncate(MaxFileSize + 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Truncate(MaxFileSize+1) = %v, want ErrTooLarge", err)
	}
	if err := f.Truncate(ps + 10); err != nil {
		t.Fatal(err)
	}
	if f.Size() != ps+10 || f.Pages() != 2 {
		t.Fatalf("after shrink: Size %d Pages %d", f.Size(), f.Pages())
	}
	if err := f.Truncate(3 * ps); err != nil {
		t.Fatal(err)
	}
	got, want := readAll(t, f), pattern(3*ps, 0)
	if !bytes.Equal(got[:ps+10], want[:ps+10]) {
		t.Fatal("shrink then grow lost the bytes below the smaller size")
	}
	if !isZero(got[ps+10:]) {
		t.Fatal("shrink then grow: the bytes cut off came back instead of zeros")
	}
}

func TestShmem(t *testing.T) {
	s := NewShmem(3*ps + 1)
	if s.Name() != "/dev/zero (deleted)" || !s.Writable() || s.Pages() != 4 {
		t.Fatalf("shmem: Name %q Writable %v Pages %d", s.Name(), s.Writable(), s.Pages())
	}
	if got := readAll(t, s); !isZero(got) {
		t.Fatal("new shmem is not zero-filled")
	}
	if huge := NewShmem(^uint64(0)); huge.Size() != MaxFileSize {
		t.Fatalf("NewShmem(max) size %d, want it clamped to MaxFileSize", huge.Size())
	}
}
