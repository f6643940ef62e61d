package rcu

import "testing"

func TestUnlockWithoutLockPanics(t *testing.T) {
	d := NewDomain()
	r := register(t, d)
	mustPanic(t, msgUnlockWithoutLock, r.Unlock)
	r.Lock()
	r.Lock()
	//lint:ignore SA2001 an empty section is the point here
	r.Unlock()
	r.Unlock()
	mustPanic(t, msgUnlockWithoutLock, r.Unlock)
	if r.InSection() {
		t.Fatal("failed Unlock left the reader in a section")
	}
}

func TestUseAfterUnregisterPanics(t *testing.T) {
	d := NewDomain()
	r := d.Register()
	r.Unregister()
	mustPanic(t, msgLockUnregistered, r.Lock)
	mustPanic(t, msgUnlockWithoutLock, r.Unlock)
	mustPanic(t, msgUnregisterTwice, r.Unregister)
	mustPanic(t, msgUseUnregistered, r.Synchronize)
	mustPanic(t, msgUseUnregistered, r.Barrier)
	mustPanic(t, msgLockUnregistered, (&Reader{}).Lock) // never registered
}

func TestUnregisterInsideSectionPanics(t *testing.T) {
	d := NewDomain()
	r := d.Register()
	r.Lock()
	mustPanic(t, msgUnregisterInSection, r.Unregister)
	if d.Readers() != 1 || !r.InSection() {
		t.Fatal("failed Unregister changed the reader")
	}
	r.Unlock()
	r.Unregister()
}

// Waiting for a grace period, or for callbacks, from inside one's own
// section would deadlock; the Reader forms panic instead.
func TestSynchronizeAndBarrierInsideSectionPanic(t *testing.T) {
	d := newDomain(t)
	r := register(t, d)

	r.Lock()
	mustPanic(t, msgSyncInSection, r.Synchronize)
	mustPanic(t, msgBarrierInSection, r.Barrier)
	r.Lock()
	//lint:ignore SA2001 an empty section is the point here
	r.Unlock() // still inside the outer section
	mustPanic(t, msgSyncInSection, r.Synchronize)
	r.Unlock()

	// Outside a section the Reader forms work like the Domain's.
	ran := false
	d.Call(func() { ran = true })
	r.Synchronize()
	r.Barrier()
	if !ran {
		t.Fatal("Reader.Barrier returned before the queued callback ran")
	}
}

func TestCallNilPanics(t *testing.T) {
	d := newDomain(t)
	mustPanic(t, msgCallNil, func() { d.Call(nil) })
}
