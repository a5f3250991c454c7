package xsk

import "unsafe"

// A socket can also live on ordinary memory, with no kernel behind it: the
// seam through which package xsktest plays the kernel's side of the four
// rings, so that code driving a Socket (a worker's receive, transmit,
// hand-over and refill) is tested without AF_XDP.

// RingMemory is one ring in ordinary memory.
type RingMemory struct {
	Producer, Consumer, Flags *uint32
	// Descs points at Size entries: uint64 frame addresses (fill and
	// completion rings) or Desc (RX and TX rings).
	Descs unsafe.Pointer
	Size  uint32 // a power of two
}

// MemoryLayout is a socket's UMEM and rings in ordinary memory.
type MemoryLayout struct {
	UMEM                     []byte
	FrameSize                int // a power of two, at least 2048
	Fill, Completion, RX, TX RingMemory
	// ShareUMEM is Options.ShareUMEM: the socket uses that socket's UMEM and
	// free frames, and UMEM and FrameSize are not read.
	ShareUMEM *Socket
}

// OpenMemory makes a socket on memory whose kernel side the caller plays.
// It has no file descriptor: Kick, Wait and a Poller never block on it, and
// Stats fails.
func OpenMemory(m MemoryLayout) *Socket {
	s := &Socket{fd: -1, inMemory: true}
	if m.ShareUMEM != nil {
		s.useFrames(m.ShareUMEM.frames)
	} else {
		s.useFrames(newFrames(m.UMEM, nil, m.FrameSize))
	}
	for _, r := range []struct {
		ring *ring
		mem  RingMemory
	}{{&s.fill, m.Fill}, {&s.completion, m.Completion}, {&s.rx, m.RX}, {&s.tx, m.TX}} {
		*r.ring = ring{producer: r.mem.Producer, consumer: r.mem.Consumer, flags: r.mem.Flags,
			descs: r.mem.Descs, size: r.mem.Size, mask: r.mem.Size - 1}
	}
	s.startRings()
	return s
}
