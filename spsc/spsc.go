// Package spsc is a bounded single-producer/single-consumer ring: the only
// way two fastlvs goroutines hand work to each other on the packet path.
// Push and Pop never block and never allocate; a full ring refuses the push
// and the producer counts a drop.
package spsc

import "sync/atomic"

// Ring holds up to a power-of-two number of T. One goroutine pushes, one
// other goroutine pops.
type Ring[T any] struct {
	head  atomic.Uint64 // next slot to pop; written by the consumer
	_     [56]byte
	tail  atomic.Uint64 // next slot to push; written by the producer
	_     [56]byte
	mask  uint64
	slots []T
}

// New makes a ring with room for size items; size is rounded up to a power
// of two.
func New[T any](size int) *Ring[T] {
	n := 1
	for n < size {
		n <<= 1
	}
	return &Ring[T]{mask: uint64(n - 1), slots: make([]T, n)}
}

// Reserve returns the slot the next Push will publish, or nil when the ring
// is full. The producer fills it in place (no copy of a large T) and then
// calls Commit.
func (r *Ring[T]) Reserve() *T {
	tail := r.tail.Load()
	if tail-r.head.Load() > r.mask {
		return nil
	}
	return &r.slots[tail&r.mask]
}

// Commit publishes the slot returned by Reserve.
func (r *Ring[T]) Commit() { r.tail.Store(r.tail.Load() + 1) }

// Push copies v into the ring; false means the ring is full.
func (r *Ring[T]) Push(v T) bool {
	slot := r.Reserve()
	if slot == nil {
		return false
	}
	*slot = v
	r.Commit()
	return true
}

// Peek returns the oldest item in place, or nil when the ring is empty. The
// consumer calls Release when done with it.
func (r *Ring[T]) Peek() *T {
	head := r.head.Load()
	if head == r.tail.Load() {
		return nil
	}
	return &r.slots[head&r.mask]
}

// Release frees the slot returned by Peek.
func (r *Ring[T]) Release() { r.head.Store(r.head.Load() + 1) }

// Pop copies the oldest item into v; false means the ring is empty.
func (r *Ring[T]) Pop(v *T) bool {
	slot := r.Peek()
	if slot == nil {
		return false
	}
	*v = *slot
	r.Release()
	return true
}

// Len is a snapshot of how many items wait in the ring.
func (r *Ring[T]) Len() int { return int(r.tail.Load() - r.head.Load()) }
