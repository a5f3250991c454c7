package xsk

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// PinThread locks the calling goroutine to its OS thread and that thread to
// cpu, so a worker's rings and tables stay in one core's caches.
func PinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to cpu %d: %w", cpu, err)
	}
	return nil
}

// ReserveWorkerProcs adds n to GOMAXPROCS: one P for each worker thread,
// which keeps its P while it sleeps in a raw poll (Poller.Wait), so the
// control plane's goroutines keep the Ps they would have had.
func ReserveWorkerProcs(n int) {
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
}

// MonotonicNanos reads CLOCK_MONOTONIC: the per-batch clock. unix.ClockGettime
// is a real system call (a few hundred ns, once per poll, idle ones
// included); the runtime's monotonic clock reads the same clock through the
// vDSO, so the clock is that plus the offset measured once at start.
func MonotonicNanos() int64 {
	return monotonicOffset + int64(time.Since(monotonicBase))
}

var (
	monotonicBase   = time.Now()
	monotonicOffset = measureMonotonicOffset()
)

// measureMonotonicOffset brackets the system call between two runtime
// readings a few times and keeps the tightest bracket's midpoint.
func measureMonotonicOffset() int64 {
	var offset, window int64
	for i := range 16 {
		before := int64(time.Since(monotonicBase))
		clock := monotonicSyscall()
		after := int64(time.Since(monotonicBase))
		if i == 0 || after-before < window {
			offset, window = clock-(before+after)/2, after-before
		}
	}
	return offset
}

func monotonicSyscall() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
