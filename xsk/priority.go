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
// (-20..19); on Linux setpriority with PRIO_PROCESS and a thread id applies
// to that thread alone.
func SetThreadNice(tid, nice int) error {
	if err := setPolicy(tid, unix.SCHED_NORMAL, 0); err != nil {
		return err
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		return fmt.Errorf("set nice %d on thread %d: %w (needs CAP_SYS_NICE below 0)", nice, tid, err)
	}
	return nil
}

// SetThreadFIFO puts thread tid under SCHED_FIFO at priority prio (1..99).
func SetThreadFIFO(tid, prio int) error {
	return setPolicy(tid, unix.SCHED_FIFO, prio)
}

// SetThreadNormal puts thread tid back under the CFS policy at nice 0.
func SetThreadNormal(tid int) error {
	return SetThreadNice(tid, 0)
}

func setPolicy(tid int, policy uint32, prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy, Priority: uint32(prio)}
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		return fmt.Errorf("set scheduling policy %d priority %d on thread %d: %w (needs CAP_SYS_NICE)", policy, prio, tid, err)
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
