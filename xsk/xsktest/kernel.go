// Package xsktest plays the kernel's side of an AF_XDP socket in ordinary
// memory, so that code driving an xsk.Socket — a worker's receive loop,
// transmit batches, copies between ports, frame recycling — is unit-tested
// without a kernel, a veth or root.
package xsktest

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"fastlvs/xsk"
)

// Headroom is where the kernel puts a received frame in its UMEM frame
// (XDP_PACKET_HEADROOM in copy mode), leaving room to grow it in front.
const Headroom = 256

// indexes are one ring's shared producer and consumer indexes and flags.
type indexes struct{ producer, consumer, flags uint32 }

// Kernel is the kernel's side of one in-memory socket.
type Kernel struct {
	sock      *xsk.Socket
	umem      []byte
	frameSize uint64

	fill, completion  []uint64
	rx, tx            []xsk.Desc
	fillIdx, compIdx  indexes
	rxIdx, txIdx      indexes
	fillEmpty, rxFull int
	lastDelivered     uint64
}

// New makes a socket of frames frames of 2048 bytes with rings of ringSize
// entries (a power of two), and the kernel side that drives it.
func New(frames, ringSize int) *Kernel {
	const frameSize = 2048
	return newKernel(make([]byte, frames*frameSize), frameSize, ringSize, nil)
}

// NewSharing makes a socket with rings of ringSize entries on first's UMEM
// and free frames (XDP_SHARED_UMEM), and the kernel side that drives it.
func NewSharing(first *Kernel, ringSize int) *Kernel {
	return newKernel(first.umem, int(first.frameSize), ringSize, first.sock)
}

func newKernel(umem []byte, frameSize, ringSize int, share *xsk.Socket) *Kernel {
	k := &Kernel{
		umem:       umem,
		frameSize:  uint64(frameSize),
		fill:       make([]uint64, ringSize),
		completion: make([]uint64, ringSize),
		rx:         make([]xsk.Desc, ringSize),
		tx:         make([]xsk.Desc, ringSize),
	}
	n := uint32(ringSize)
	k.sock = xsk.OpenMemory(xsk.MemoryLayout{
		UMEM: k.umem, FrameSize: frameSize,
		Fill:       xsk.RingMemory{Producer: &k.fillIdx.producer, Consumer: &k.fillIdx.consumer, Flags: &k.fillIdx.flags, Descs: unsafe.Pointer(&k.fill[0]), Size: n},
		Completion: xsk.RingMemory{Producer: &k.compIdx.producer, Consumer: &k.compIdx.consumer, Flags: &k.compIdx.flags, Descs: unsafe.Pointer(&k.completion[0]), Size: n},
		RX:         xsk.RingMemory{Producer: &k.rxIdx.producer, Consumer: &k.rxIdx.consumer, Flags: &k.rxIdx.flags, Descs: unsafe.Pointer(&k.rx[0]), Size: n},
		TX:         xsk.RingMemory{Producer: &k.txIdx.producer, Consumer: &k.txIdx.consumer, Flags: &k.txIdx.flags, Descs: unsafe.Pointer(&k.tx[0]), Size: n},
		ShareUMEM:  share,
	})
	return k
}

// Socket is the user-space side.
func (k *Kernel) Socket() *xsk.Socket { return k.sock }

// SetNeedWakeup sets or clears the TX ring's need-wakeup flag, as copy mode
// always sets it.
func (k *Kernel) SetNeedWakeup(on bool) {
	var f uint32
	if on {
		f = unix.XDP_RING_NEED_WAKEUP
	}
	atomic.StoreUint32(&k.txIdx.flags, f)
}

// Deliver receives a frame: it takes a frame from the fill ring, copies the
// bytes in after Headroom and puts a descriptor on the RX ring. It reports
// false, counting why, when the fill ring is empty or the RX ring full — the
// kernel's rx_fill_ring_empty and rx_ring_full drops.
func (k *Kernel) Deliver(frame []byte) bool {
	mask := uint32(len(k.fill) - 1)
	fillProd := atomic.LoadUint32(&k.fillIdx.producer)
	if fillProd == k.fillIdx.consumer {
		k.fillEmpty++
		return false
	}
	rxCons := atomic.LoadUint32(&k.rxIdx.consumer)
	if k.rxIdx.producer-rxCons == uint32(len(k.rx)) {
		k.rxFull++
		return false
	}
	base := k.fill[k.fillIdx.consumer&mask]
	k.lastDelivered = base
	atomic.StoreUint32(&k.fillIdx.consumer, k.fillIdx.consumer+1)
	n := copy(k.umem[base+Headroom:base+k.frameSize], frame)
	k.rx[k.rxIdx.producer&mask] = xsk.Desc{Addr: base + Headroom, Len: uint32(n)}
	atomic.StoreUint32(&k.rxIdx.producer, k.rxIdx.producer+1)
	return true
}

// Transmitted takes every frame on the TX ring, returns copies of them in
// order and completes them (their frames go to the completion ring).
func (k *Kernel) Transmitted() [][]byte {
	var out [][]byte
	k.complete(func(frame []byte) { out = append(out, append([]byte(nil), frame...)) })
	return out
}

// LastDelivered is the UMEM address of the frame Deliver last filled.
func (k *Kernel) LastDelivered() uint64 { return k.lastDelivered }

// TransmittedFrames completes every frame on the TX ring and returns the
// UMEM address of the frame each was sent from, in order.
func (k *Kernel) TransmittedFrames() []uint64 {
	var out []uint64
	k.complete(func(frame []byte) {
		at := uintptr(unsafe.Pointer(&frame[0])) - uintptr(unsafe.Pointer(&k.umem[0]))
		out = append(out, uint64(at)&^(k.frameSize-1))
	})
	return out
}

// Drain completes every frame on the TX ring without looking at it, and
// without allocating, and says how many there were.
func (k *Kernel) Drain() int { return k.complete(nil) }

func (k *Kernel) complete(each func([]byte)) int {
	mask := uint32(len(k.tx) - 1)
	prod := atomic.LoadUint32(&k.txIdx.producer)
	n := 0
	for ; k.txIdx.consumer != prod; n++ {
		d := k.tx[k.txIdx.consumer&mask]
		if each != nil {
			each(k.umem[d.Addr : d.Addr+uint64(d.Len)])
		}
		k.completion[k.compIdx.producer&mask] = d.Addr
		atomic.StoreUint32(&k.compIdx.producer, k.compIdx.producer+1)
		atomic.StoreUint32(&k.txIdx.consumer, k.txIdx.consumer+1)
	}
	return n
}

// FillEmpty and RXFull count frames Deliver could not deliver.
func (k *Kernel) FillEmpty() int { return k.fillEmpty }

// RXFull counts frames lost to a full RX ring.
func (k *Kernel) RXFull() int { return k.rxFull }

// FramesInFlight is how many UMEM frames the kernel side holds: on the fill
// ring, the RX ring, the TX ring or the completion ring. With the socket's
// free frames they add up to every frame, which a test checks to find a
// leak (summed over the sockets sharing a UMEM).
func (k *Kernel) FramesInFlight() int {
	fill := atomic.LoadUint32(&k.fillIdx.producer) - k.fillIdx.consumer
	rx := k.rxIdx.producer - atomic.LoadUint32(&k.rxIdx.consumer)
	tx := atomic.LoadUint32(&k.txIdx.producer) - k.txIdx.consumer
	comp := k.compIdx.producer - atomic.LoadUint32(&k.compIdx.consumer)
	return int(fill + rx + tx + comp)
}

// Frames is the socket's UMEM size in frames (shared ones included).
func (k *Kernel) Frames() int { return len(k.umem) / int(k.frameSize) }
