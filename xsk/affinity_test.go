package xsk

import "testing"

// TestMonotonicNanosIsClockMonotonic: the vDSO-backed clock reads what the
// CLOCK_MONOTONIC system call reads (other processes and the kernel use
// that clock), and never runs backwards.
func TestMonotonicNanosIsClockMonotonic(t *testing.T) {
	for range 1000 {
		before := monotonicSyscall()
		got := MonotonicNanos()
		after := monotonicSyscall()
		if got < before-1000 || got > after+1000 {
			t.Fatalf("MonotonicNanos %d outside the system call's [%d, %d]", got, before, after)
		}
	}
	last := MonotonicNanos()
	for range 10000 {
		now := MonotonicNanos()
		if now < last {
			t.Fatalf("clock went back from %d to %d", last, now)
		}
		last = now
	}
}

func BenchmarkMonotonicNanos(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = MonotonicNanos()
	}
}

func BenchmarkMonotonicSyscall(b *testing.B) {
	for b.Loop() {
		_ = monotonicSyscall()
	}
}
