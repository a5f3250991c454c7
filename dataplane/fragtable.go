package dataplane

import (
	"encoding/binary"
	"math/bits"

	"fastlvs/conntrack"
)

// The fragment table remembers, for a few seconds, what the first fragment
// of a datagram decided (which connection, so which rewrite and which real
// server or client), so the later fragments, which carry no ports, follow
// it without reassembly. Later fragments that arrive before their first are
// held, copied, in a few preallocated slots until it comes. Both are fixed
// arrays: nothing is allocated per packet and nothing grows.

const (
	fragWays    = 4   // entries per bucket
	fragBuckets = 256 // fragWays*fragBuckets datagrams in flight per worker
	// fragTimeout bounds how long a datagram's fragments are followed and
	// held: a datagram whose fragments are seconds apart is lost anyway.
	fragTimeout = 2e9 // nanoseconds
	// fragHeldSlots frames are held per worker, at most fragHeldPerFlow of
	// one datagram.
	fragHeldSlots   = 64
	fragHeldPerFlow = 4
)

// fragKey names the fragments of one datagram, as they arrive.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

// fragHash hashes a key with a keyed hash (clients choose ids and
// addresses).
func fragHash(h *conntrack.Hasher, k *fragKey) uint64 {
	d := k.dst
	binary.LittleEndian.PutUint32(d[0:4], binary.LittleEndian.Uint32(d[0:4])^k.id)
	d[4] ^= k.proto
	return h.Addr(k.src) ^ bits.RotateLeft64(h.Addr(d), 29)
}

// fragDecision is what a first fragment's connection decided: the later
// fragments take the same addresses and leave the same way.
type fragDecision struct {
	method    Method
	in        bool // towards the real server (else towards the client)
	realID    uint32
	serviceID uint32
	// The flow's ports name the GUE source port of a tunnel.
	clientPort, virtualPort uint16
	real                    [16]byte
	client                  [16]byte
	// src and dst are the addresses every fragment leaves with.
	src, dst [16]byte
}

type fragEntry struct {
	key      fragKey
	decision fragDecision
	expires  int64 // 0: free
}

// fragTable maps datagrams to their first fragment's decision.
type fragTable struct {
	hash    conntrack.Hasher
	buckets [fragBuckets][fragWays]fragEntry
}

func (t *fragTable) bucket(k *fragKey) *[fragWays]fragEntry {
	return &t.buckets[fragHash(&t.hash, k)%fragBuckets]
}

// remember records a datagram's decision; false when its bucket is full of
// live datagrams.
func (t *fragTable) remember(k *fragKey, d *fragDecision, now int64) bool {
	b := t.bucket(k)
	free := -1
	for i := range b {
		e := &b[i]
		if e.expires > now && e.key == *k {
			free = i // a retransmitted first fragment: decide again
			break
		}
		if free < 0 && e.expires <= now {
			free = i
		}
	}
	if free < 0 {
		return false
	}
	b[free] = fragEntry{key: *k, decision: *d, expires: now + fragTimeout}
	return true
}

// lookup returns the live decision for a datagram, or nil.
func (t *fragTable) lookup(k *fragKey, now int64) *fragDecision {
	b := t.bucket(k)
	for i := range b {
		if e := &b[i]; e.expires > now && e.key == *k {
			return &e.decision
		}
	}
	return nil
}

// heldFrag is one fragment waiting for its first fragment: a copy of the
// frame after handoffHeadroom bytes of headroom, as a handed-over frame.
type heldFrag struct {
	key     fragKey
	expires int64 // 0: free
	port    int
	length  int
	buf     [handoffHeadroom + handoffFrameMax]byte
}

// holdResult says what became of a fragment offered to the held slots.
type holdResult uint8

const (
	held holdResult = iota
	holdFlowFull
	holdSlotsFull
	holdTooLarge
)

// fragHold is a worker's held fragments.
type fragHold struct {
	slots [fragHeldSlots]heldFrag
	used  int
}

// hold copies frame into a free slot.
func (h *fragHold) hold(k *fragKey, frame []byte, port int, now int64) holdResult {
	if len(frame) > handoffFrameMax {
		return holdTooLarge
	}
	if h.used == len(h.slots) {
		return holdSlotsFull
	}
	free, same := -1, 0
	for i := range h.slots {
		s := &h.slots[i]
		if s.expires == 0 {
			if free < 0 {
				free = i
			}
		} else if s.key == *k {
			same++
		}
	}
	if same >= fragHeldPerFlow {
		return holdFlowFull
	}
	s := &h.slots[free]
	s.key, s.expires, s.port = *k, now+fragTimeout, port
	s.length = copy(s.buf[handoffHeadroom:], frame)
	h.used++
	return held
}

// next returns a held fragment of k, or nil; the caller frees it.
func (h *fragHold) next(k *fragKey) *heldFrag {
	if h.used == 0 {
		return nil
	}
	for i := range h.slots {
		if s := &h.slots[i]; s.expires != 0 && s.key == *k {
			return s
		}
	}
	return nil
}

func (h *fragHold) free(s *heldFrag) {
	s.expires = 0
	h.used--
}

// expire frees the slots held past their time and says how many.
func (h *fragHold) expire(now int64) int {
	if h.used == 0 {
		return 0
	}
	n := 0
	for i := range h.slots {
		if s := &h.slots[i]; s.expires != 0 && s.expires <= now {
			h.free(s)
			n++
		}
	}
	return n
}
