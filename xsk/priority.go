package xsk

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ThreadID is the kernel's id of the calling thread: what the control plane
// needs to change a pinned worker's scheduling from outside it.
func ThreadID() int { return unix.Gettid() }

// SetThreadNice gives thread tid the CFS policy at nice level nice
// (-20..19).
func SetThreadNice(tid, nice int) error {
	return setPolicy(tid, unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: int32(nice)})
}

// SetThreadFIFO puts thread tid under SCHED_FIFO at priority prio (1..99).
func SetThreadFIFO(tid, prio int) error {
	return setPolicy(tid, unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(prio)})
}

// SetThreadNormal puts thread tid back under the CFS policy at nice 0.
func SetThreadNormal(tid int) error {
	return SetThreadNice(tid, 0)
}

// setPolicy applies attr to one thread. Reset-on-fork keeps a thread the
// raised one creates (the Go runtime starts its threads from a template
// thread for locked ones, but a cgo or forked child would not) at the
// normal policy.
func setPolicy(tid int, attr unix.SchedAttr) error {
	attr.Size = unix.SizeofSchedAttr
	attr.Flags = unix.SCHED_FLAG_RESET_ON_FORK
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		return fmt.Errorf("set scheduling policy %d (priority %d, nice %d) on thread %d: %w (needs CAP_SYS_NICE)",
			attr.Policy, attr.Priority, attr.Nice, tid, err)
	}
	return nil
}

// Nap blocks the calling thread in the kernel for d: unlike sched_yield,
// which under SCHED_FIFO only yields to real-time threads, it lets the
// CFS threads of its CPU (NAPI, ksoftirqd, the Go runtime) run.
func Nap(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_ = unix.Nanosleep(&ts, nil)
}

// Yield gives the calling thread's CPU to any other runnable thread of its
// scheduling class (sched_yield); it returns at once when there is none.
// Under SCHED_FIFO it passes only to real-time threads.
func Yield() {
	_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}
