package dataplane

// Worker priority (config key worker_priority). In AF_XDP copy mode the
// kernel's NAPI work for a queue (softirq, ksoftirqd or a threaded NAPI
// thread, all CFS) shares the CPU with the worker that drains the queue's
// socket, so raising the worker can starve the very thread that fills its
// RX ring. Three valves keep NAPI and the control plane running:
//
//  1. An idle worker always blocks in poll(2) (RoutineWorker), whatever its
//     priority.
//  2. Under fifo, a worker that has not blocked for fifoBusyLimit naps for
//     fifoNap in the kernel (a sched_yield would only yield to other
//     real-time threads, and NAPI threads are not real-time).
//  3. Under fifo, the watchdog demotes a worker that has still not blocked
//     for fifoDemoteAfter to the normal policy, for good: the first two
//     valves failed and the worker is stuck in a batch.
//
// The kernel's real-time throttling (sched_rt_runtime_us, by default 50 ms
// of every second left to CFS) is a last resort only: it stalls NAPI for up
// to 950 ms at a time, and operators may have turned it off.

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"fastlvs/xsk"
)

const (
	fifoBusyLimit   = 2 * time.Millisecond
	fifoNap         = 50 * time.Microsecond
	fifoDemoteAfter = 250 * time.Millisecond
	watchdogPeriod  = 50 * time.Millisecond
)

// PriorityPolicy is how worker threads are scheduled.
type PriorityPolicy uint8

const (
	PriorityNormal PriorityPolicy = iota // CFS at nice 0, as the process was started
	PriorityNice                         // CFS at Priority.Level (-20..19)
	PriorityFIFO                         // SCHED_FIFO at Priority.Level (1..99)
)

// Priority is the scheduling policy of every worker thread.
type Priority struct {
	Policy PriorityPolicy
	Level  int
}

// ParsePriority reads "normal", "nice:<-20..19>" or "fifo:<1..99>".
func ParsePriority(text string) (Priority, error) {
	if text == "" || text == "normal" {
		return Priority{}, nil
	}
	name, level, found := strings.Cut(text, ":")
	n, err := strconv.Atoi(level)
	switch {
	case !found || err != nil || (name != "nice" && name != "fifo"):
		return Priority{}, fmt.Errorf("%q is not normal, nice:<-20..19> or fifo:<1..99>", text)
	case name == "nice" && (n < -20 || n > 19):
		return Priority{}, fmt.Errorf("nice level %d is outside -20..19", n)
	case name == "fifo" && (n < 1 || n > 99):
		return Priority{}, fmt.Errorf("fifo priority %d is outside 1..99", n)
	case name == "nice":
		return Priority{Policy: PriorityNice, Level: n}, nil
	}
	return Priority{Policy: PriorityFIFO, Level: n}, nil
}

func (p Priority) String() string {
	switch p.Policy {
	case PriorityNice:
		return fmt.Sprintf("nice:%d", p.Level)
	case PriorityFIFO:
		return fmt.Sprintf("fifo:%d", p.Level)
	}
	return "normal"
}

// applyPriority sets the calling thread, the worker's locked thread, to the
// worker's priority and records its id for the watchdog.
func (w *Worker) applyPriority() error {
	tid := xsk.ThreadID()
	w.noteBlocked(Now())
	w.threadID.Store(int32(tid))
	switch w.priority.Policy {
	case PriorityNice:
		return xsk.SetThreadNice(tid, w.priority.Level)
	case PriorityFIFO:
		return xsk.SetThreadFIFO(tid, w.priority.Level)
	}
	return nil
}

// noteBlocked records that the worker is about to block (poll or nap): the
// watchdog's proof of life.
func (w *Worker) noteBlocked(now int64) {
	w.lastBlocked.Store(now)
}

// runsFIFO reports whether the worker runs under SCHED_FIFO now.
func (w *Worker) runsFIFO() bool {
	return w.priority.Policy == PriorityFIFO && !w.demoted.Load()
}

// yieldIfHogging is valve 2: a fifo worker busy for fifoBusyLimit naps.
func (w *Worker) yieldIfHogging(now int64) {
	if !w.runsFIFO() || now-w.lastBlocked.Load() < int64(fifoBusyLimit) {
		return
	}
	w.noteBlocked(now)
	w.Stats.Counts[CountForcedNaps].add(1)
	xsk.Nap(fifoNap)
}

// RoutineWatchdog is valve 3: it demotes a fifo worker that has not
// blocked for fifoDemoteAfter to the normal policy until restart.
func (dp *Dataplane) RoutineWatchdog(ctx context.Context) {
	ticker := time.NewTicker(watchdogPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now := Now()
		for _, w := range dp.Workers {
			tid := int(w.threadID.Load())
			if w.demoted.Load() || tid == 0 || w.priority.Policy != PriorityFIFO {
				continue
			}
			if since := time.Duration(now - w.lastBlocked.Load()); since >= fifoDemoteAfter {
				w.demoted.Store(true)
				err := xsk.SetThreadNormal(tid)
				w.Stats.Counts[CountPriorityDemotions].add(1)
				slog.Warn("worker demoted to normal priority: it ran without blocking", "worker", w.ID,
					"busy", since, "err", err)
			}
		}
	}
}
