package dataplane

import (
	"testing"

	"fastlvs/xsk"
)

// TestIdleYieldsThenSleeps: the first yieldsBeforeSleep empty polls only
// yield; the next one blocks in poll(2), which the fifo watchdog sees.
func TestIdleYieldsThenSleeps(t *testing.T) {
	w := &Worker{Stats: new(WorkerStats), poller: xsk.NewPoller()}
	w.now = 12345
	for empty := 1; empty <= yieldsBeforeSleep; empty++ {
		w.idle(empty)
		if got := w.lastBlocked.Load(); got != 0 {
			t.Fatalf("empty poll %d blocked (noted at %d): want a yield", empty, got)
		}
	}
	w.idle(yieldsBeforeSleep + 1)
	if got := w.lastBlocked.Load(); got != w.now {
		t.Fatalf("empty poll %d did not block: noted %d, want %d", yieldsBeforeSleep+1, got, w.now)
	}
}

// TestIdleFIFOSleepsAtOnce: a fifo worker's yield would not reach NAPI, so
// its first empty poll already blocks.
func TestIdleFIFOSleepsAtOnce(t *testing.T) {
	w := &Worker{Stats: new(WorkerStats), poller: xsk.NewPoller(), priority: Priority{PriorityFIFO, 10}}
	w.now = 777
	w.idle(1)
	if got := w.lastBlocked.Load(); got != w.now {
		t.Fatalf("first empty poll of a fifo worker noted %d, want a block at %d", got, w.now)
	}
}
