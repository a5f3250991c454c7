package nexthop

import "fastlvs/spsc"

// WantQueue is one worker's queue of addresses it found no link-layer
// address for. The worker pushes and wakes the resolver; the resolver pops.
type WantQueue struct {
	ring *spsc.Ring[[16]byte]
	wake chan struct{} // the resolver's; nil wakes nobody (tests)
}

// NewWantQueue is a queue with no resolver to wake, for tests.
func NewWantQueue() *WantQueue { return &WantQueue{ring: spsc.New[[16]byte](256)} }

// Push asks for addr to be resolved. Neither step blocks: a full queue only
// delays resolution, and while a wake-up is pending the send fails on the
// channel's lock-free fast path, so a flood of packets to one unresolved
// neighbour costs a failed check each, not a lock.
func (q *WantQueue) Push(addr [16]byte) {
	q.ring.Push(addr)
	notify(q.wake)
}

// notify sends on wake unless a wake-up is already pending (or wake is nil).
func notify(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// Pop takes the oldest wanted address.
func (q *WantQueue) Pop(addr *[16]byte) bool { return q.ring.Pop(addr) }
