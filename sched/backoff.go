package sched

import (
	"runtime"
	"time"
)

// The free-running wait schedule: re-check at once spinAttempts times (the
// awaited thread is most likely a few instructions from done), then yield
// the processor yieldAttempts times, then sleep with doubling intervals
// from a microsecond up to the caller's cap.
const (
	spinAttempts  = 64
	yieldAttempts = 256
)

// backoff pauses before the attempt-th re-check of a free-running Spin.
func backoff(attempt int, maxSleep time.Duration) {
	switch {
	case attempt < spinAttempts:
	case attempt < spinAttempts+yieldAttempts:
		runtime.Gosched()
	default:
		d := time.Microsecond << min(attempt-spinAttempts-yieldAttempts, 20)
		time.Sleep(min(d, maxSleep))
	}
}

// sleep takes d of real time. time.Sleep rounds short sleeps up to the
// runtime's timer granularity (about a millisecond when the process is
// otherwise idle), so durations under a millisecond are waited out by
// yielding until the deadline instead: they cost CPU, but take the time
// asked for.
func sleep(d time.Duration) {
	if d >= time.Millisecond {
		time.Sleep(d)
		return
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		runtime.Gosched()
	}
}
