package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller waits on several sockets at once without allocating: the idle
// back-off of a worker that owns one socket per interface.
type Poller struct{ fds []unix.PollFd }

// NewPoller watches the sockets for received frames.
func NewPoller(sockets ...*Socket) *Poller {
	p := &Poller{}
	for _, s := range sockets {
		p.fds = append(p.fds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
	}
	return p
}

// Wait blocks until a socket has frames or timeoutMillis passes.
//
// It is a raw system call: the worker keeps its P while it sleeps. Through
// the runtime's syscall entry, a sleep past 20 µs lets sysmon take the P
// away and hand it to another thread, which wakes only to find nothing to
// run; and a P that keeps being taken holds sysmon at its shortest period,
// 20 µs. On the director core, beside the NAPI thread the worker waits for,
// those wake-ups cost more than the poll. The worker threads' Ps are extra
// (ReserveWorkerProcs), so nothing else waits for them.
func (p *Poller) Wait(timeoutMillis int) {
	ts := unix.NsecToTimespec(int64(timeoutMillis) * 1e6)
	var fds unsafe.Pointer // none: ppoll only sleeps
	if len(p.fds) > 0 {
		fds = unsafe.Pointer(&p.fds[0])
	}
	_, _, _ = unix.RawSyscall6(unix.SYS_PPOLL, uintptr(fds), uintptr(len(p.fds)), uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}
