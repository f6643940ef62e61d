package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/vmsim/vmsim/explore"
	"github.com/vmsim/vmsim/mmap"
)

// The reads of the scenario, in the order the outcome table shows them:
// each is an Observe key, and a read's value is one of the words below.
var reads = []struct{ key, label string }{
	{"A", "A's read"},
	{"C1", "C's 1st"},
	{"flag", "flag C read"},
	{"C2", "C's 2nd"},
}

// word names what a load returned: "old", "new", "poison", another word
// in hex, or the signal that a failed load raised.
func word(v uint64, err error) string {
	var se *mmap.SignalError
	switch {
	case errors.As(err, &se):
		return se.Signo.String()
	case err != nil:
		return err.Error()
	case v == oldValue:
		return "old"
	case v == newValue:
		return "new"
	case v == poisonValue:
		return "poison"
	}
	return fmt.Sprintf("%#x", v)
}

// scenario is the MAP_FIXED race as explore runs it. The page at addr
// holds old; B maps a file holding new over it with MAP_FIXED. A reads
// addr once and stores the word it read in the flag word, on the next
// page. C reads addr (its TLB now holds a translation of it), reads the
// flag, and reads addr again. So when C's flag read returns new, A's read
// of new has returned before C's second read began: if that read returns
// old, a thread read old after another's read of new had returned.
//
// A schedule fails when a read raises a signal (the address is mapped all
// along), returns poison or garbage (a freed or reused frame), or returns
// old after a read of new that it knows of (through the flag, or C's own
// first read).
func scenario(policy mmap.Policy, quirks mmap.Quirks) func(*explore.Env) {
	return func(e *explore.Env) {
		as := e.New(mmap.Config{Policy: policy, Quirks: quirks})
		setup := as.NewThreadNamed("setup")
		addr, err := setup.Mmap(0, 2*mmap.PageSize, mmap.ProtRead|mmap.ProtWrite, mmap.MapPrivate|mmap.MapAnonymous, nil, 0)
		if err != nil {
			panic(err)
		}
		flag := addr + mmap.PageSize
		if err := setup.WriteUint64(addr, oldValue); err != nil {
			panic(err)
		}
		if err := setup.WriteUint64(flag, 0); err != nil { // fault the flag page in
			panic(err)
		}
		setup.Close()
		contents := make([]byte, mmap.PageSize)
		binary.LittleEndian.PutUint64(contents, newValue)
		file := mmap.NewFile("new-contents", contents, mmap.FileOptions{})

		fail := e.Errorf
		check := func(who string, v uint64, err error) string {
			w := word(v, err)
			switch {
			case err != nil:
				fail("%s got %v: the address was mapped all along", who, err)
			case w == "poison":
				fail("%s returned poison (%#x): the frame had been freed", who, v)
			case w != "old" && w != "new":
				fail("%s returned %s, neither old, new nor poison: a reused frame", who, w)
			}
			return w
		}

		e.Go("A", as, func(t *mmap.Thread) {
			v, err := t.ReadUint64(addr)
			e.Observe("A", check("A's read", v, err))
			if err == nil {
				if err := t.WriteUint64(flag, v); err != nil {
					fail("A's store to the flag: %v", err)
				}
			}
		})
		e.Go("B", as, func(t *mmap.Thread) {
			if _, err := t.Mmap(addr, mmap.PageSize, mmap.ProtRead, mmap.MapPrivate|mmap.MapFixed, file, 0); err != nil {
				fail("B's mmap(MAP_FIXED): %v", err)
			}
		})
		e.Go("C", as, func(t *mmap.Thread) {
			v1, err1 := t.ReadUint64(addr)
			c1 := check("C's 1st read", v1, err1)
			f, ferr := t.ReadUint64(flag)
			v2, err2 := t.ReadUint64(addr)
			c2 := check("C's 2nd read", v2, err2)
			flagWord := "0" // A had not stored yet
			if ferr != nil || f != 0 {
				flagWord = word(f, ferr)
			}
			e.Observe("C1", c1)
			e.Observe("flag", flagWord)
			e.Observe("C2", c2)
			switch {
			case c2 == "old" && flagWord == "new":
				fail("C's 2nd read returned old after A's read of new had returned (C read new in the flag first)")
			case c2 == "old" && c1 == "new":
				fail("C's 2nd read returned old after C's 1st read returned new")
			}
		})
	}
}

// outcomeWords splits an outcome ("A=new C1=old C2=old flag=-") into the
// words of reads, in order.
func outcomeWords(outcome string) []string {
	kv := map[string]string{}
	for _, f := range strings.Fields(outcome) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	ws := make([]string, len(reads))
	for i, r := range reads {
		ws[i] = kv[r.key]
	}
	return ws
}
