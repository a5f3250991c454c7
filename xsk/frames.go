package xsk

import "golang.org/x/sys/unix"

// frames is a UMEM and the stack of its free frames, shared by every socket
// bound to it (XDP_SHARED_UMEM). The sockets sharing one are owned by one
// goroutine, so neither needs a lock: a frame received on one socket can be
// transmitted by another without a copy, completes on that other socket's
// completion ring, and is filled again on whichever socket's fill ring asks
// next.
type frames struct {
	umem []byte
	// mapping is what umem was cut from, unmapped when the last socket
	// closes (nil in memory).
	mapping []byte
	size    uint64 // bytes per frame, a power of two

	// free is a stack of frame addresses owned by user space and not in any
	// ring: popped for fill rings and for copies, pushed back from completion
	// rings and when a received frame is dropped.
	free []uint64
	refs int
}

func newFrames(umem, mapping []byte, frameSize int) *frames {
	n := len(umem) / frameSize
	f := &frames{umem: umem, mapping: mapping, size: uint64(frameSize), free: make([]uint64, 0, n)}
	for i := n - 1; i >= 0; i-- {
		f.free = append(f.free, uint64(i)*f.size)
	}
	return f
}

// release drops a socket's reference and unmaps the UMEM after the last:
// the kernel holds its own reference to the pages while any socket is bound.
func (f *frames) release() {
	if f.refs--; f.refs > 0 || f.mapping == nil {
		return
	}
	_ = unix.Munmap(f.mapping)
	f.umem, f.mapping = nil, nil
}
