package dataplane

import (
	"context"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParsePriority(t *testing.T) {
	for text, want := range map[string]Priority{
		"": {}, "normal": {}, "nice:-20": {PriorityNice, -20}, "nice:19": {PriorityNice, 19},
		"fifo:1": {PriorityFIFO, 1}, "fifo:99": {PriorityFIFO, 99},
	} {
		got, err := ParsePriority(text)
		if err != nil || got != want {
			t.Errorf("ParsePriority(%q) = %+v, %v; want %+v", text, got, err, want)
		}
		if text != "" && got.String() != text {
			t.Errorf("%+v prints as %q, want %q", got, got.String(), text)
		}
	}
	for _, text := range []string{"high", "nice", "nice:", "nice:-21", "nice:20", "fifo:0", "fifo:100", "rr:5", "fifo:ten"} {
		if p, err := ParsePriority(text); err == nil {
			t.Errorf("ParsePriority(%q) = %+v, want an error", text, p)
		}
	}
}

// TestFIFOWorkerNapsWhenHogging: valve 2 naps only a fifo worker that has
// not blocked for fifoBusyLimit.
func TestFIFOWorkerNapsWhenHogging(t *testing.T) {
	w := &Worker{Stats: new(WorkerStats), priority: Priority{PriorityFIFO, 10}}
	start := Now()
	w.noteBlocked(start)
	w.yieldIfHogging(start + int64(fifoBusyLimit) - 1)
	if n := w.Stats.Counts[CountForcedNaps].Load(); n != 0 {
		t.Fatalf("napped %d times before the limit", n)
	}
	w.yieldIfHogging(start + int64(fifoBusyLimit))
	if n := w.Stats.Counts[CountForcedNaps].Load(); n != 1 {
		t.Fatalf("napped %d times at the limit, want 1", n)
	}
	normal := &Worker{Stats: new(WorkerStats)}
	normal.yieldIfHogging(start + int64(time.Hour))
	if n := normal.Stats.Counts[CountForcedNaps].Load(); n != 0 {
		t.Fatalf("a normal worker napped %d times: CFS preempts it already", n)
	}
}

// TestWatchdogDemotesStuckFIFOWorker: a real thread under SCHED_FIFO that
// never notes a block is put back under the normal policy by valve 3.
func TestWatchdogDemotesStuckFIFOWorker(t *testing.T) {
	w := &Worker{Stats: new(WorkerStats), priority: Priority{PriorityFIFO, 5}}
	applied := make(chan error)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		applied <- w.applyPriority()
		<-release // stuck, as far as the watchdog can tell: no noteBlocked
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr}, 0)
	}()
	defer close(release)
	if err := <-applied; err != nil {
		t.Fatalf("apply fifo (the test runs as root): %v", err)
	}
	tid := int(w.threadID.Load())
	if policy := threadPolicy(t, tid); policy != unix.SCHED_FIFO {
		t.Fatalf("thread policy %d after apply, want SCHED_FIFO", policy)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp := &Dataplane{Workers: []*Worker{w}}
	go dp.RoutineWatchdog(ctx)
	deadline := time.Now().Add(fifoDemoteAfter + time.Second)
	for w.Stats.Counts[CountPriorityDemotions].Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := w.Stats.Counts[CountPriorityDemotions].Load(); n != 1 {
		t.Fatalf("%d demotions, want 1", n)
	}
	if policy := threadPolicy(t, tid); policy != unix.SCHED_NORMAL {
		t.Fatalf("thread policy %d after demotion, want SCHED_NORMAL", policy)
	}
}

func threadPolicy(tb testing.TB, tid int) uint32 {
	tb.Helper()
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		tb.Fatalf("read policy of thread %d: %v", tid, err)
	}
	return attr.Policy
}
