// Command quickstart is the smallest useful vmsim program: it creates an
// address space, maps a file, reads it from two threads (each read of an
// unmapped page is a page fault) and prints /proc/pid/maps and the
// fault counters.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -policy mmap-lock
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vmsim/vmsim/mmap"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // the usage is printed
		}
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stdout)
	policy := fs.String("policy", mmap.PolicyRCURefcount.String(), "the fault path's locking policy: rcu-refcount, mmap-lock or per-vma-lock")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	p, err := mmap.ParsePolicy(*policy)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "policy %v\n", p)
	return quickstart(p, stdout)
}

func quickstart(policy mmap.Policy, stdout io.Writer) error {
	as, err := mmap.New(mmap.Config{Policy: policy}) // Linux defaults otherwise
	if err != nil {
		return err
	}
	defer as.Close()

	// A 16-page file, mapped shared and read-only.
	const pages = 16
	f := mmap.NewFile("hello.txt", []byte(strings.Repeat("hello, vmsim!\n", pages*mmap.PageSize/14+1)), mmap.FileOptions{})
	addr, err := as.Mmap(0, pages*mmap.PageSize, mmap.ProtRead, mmap.MapShared, f, 0)
	if err != nil {
		return err
	}

	// Two threads read the first bytes of every page.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"A", "B"} {
		t := as.NewThreadNamed(name)
		wg.Go(func() {
			defer t.Close()
			buf := make([]byte, 5)
			for p := range uint64(pages) {
				if err := t.Read(addr+p*mmap.PageSize, buf); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	if err := as.WriteMaps(stdout); err != nil {
		return err
	}
	s := as.Stats()
	fmt.Fprintf(stdout, "faults: %d (%d major), %d on the fast path, %d on the slow path, %d retries, %d fallbacks; %d PTEs installed\n",
		s.Pgfault, s.Pgmajfault, s.FastPath, s.SlowPath, s.Retries, s.Fallbacks, s.Installs)
	fmt.Fprintf(stdout, "page cache: %d pages read from the file; waits for another fault's read: %d\n", f.Stats().Reads, f.Stats().Waits)
	fmt.Fprintf(stdout, "invariants: %v\n", okOr(as.Check()))
	return nil
}

func okOr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "OK"
}
