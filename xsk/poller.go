package xsk

import "golang.org/x/sys/unix"

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
func (p *Poller) Wait(timeoutMillis int) {
	_, _ = unix.Poll(p.fds, timeoutMillis)
}
