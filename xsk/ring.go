package xsk

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Desc is one RX/TX descriptor: a frame's offset in the UMEM and its length.
type Desc = unix.XDPDesc

// ring is the user-space half of one single-producer/single-consumer ring
// shared with the kernel. Producer and consumer indexes run freely and are
// masked on use; the side that owns an index stores it with release
// semantics after writing descriptors, the other side loads it with acquire
// semantics before reading them (Go's sync/atomic gives both).
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    unsafe.Pointer // []uint64 for fill/completion, []Desc for rx/tx
	mask     uint32
	size     uint32

	// cached copies of the index we do not own, refreshed only when the
	// cached value says the ring looks empty (consumer side) or full
	// (producer side): one shared-cache-line read per batch, not per frame.
	cachedProducer uint32
	cachedConsumer uint32
}

func (r *ring) addrAt(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

func (r *ring) descAt(i uint32) *Desc {
	return (*Desc)(unsafe.Add(r.descs, uintptr(i&r.mask)*unsafe.Sizeof(Desc{})))
}

// freeSlots returns how many entries the producer (us) may write, up to want.
func (r *ring) freeSlots(want uint32) uint32 {
	prod := *r.producer // we own the producer index
	free := r.size - (prod - r.cachedConsumer)
	if free >= want {
		return want
	}
	r.cachedConsumer = atomic.LoadUint32(r.consumer)
	free = r.size - (prod - r.cachedConsumer)
	return min(free, want)
}

// available returns how many entries the consumer (us) may read, up to want.
func (r *ring) available(want uint32) uint32 {
	cons := *r.consumer // we own the consumer index
	n := r.cachedProducer - cons
	if n == 0 {
		r.cachedProducer = atomic.LoadUint32(r.producer)
		n = r.cachedProducer - cons
	}
	return min(n, want)
}

func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// pending reports entries we produced that the kernel has not consumed yet.
func (r *ring) pending() uint32 {
	return *r.producer - atomic.LoadUint32(r.consumer)
}
