package synproxy

import "math/bits"

// sipKey is a SipHash key as two little-endian 64-bit words.
type sipKey [2]uint64

// sipHash24 returns SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) under key of a message given as its full 8-byte
// little-endian blocks and its last block (the remaining 0-7 bytes with the
// message length mod 256 in the top byte; see lastBlock). Callers build the
// blocks from integers on the stack, so hashing a flow neither copies bytes
// nor allocates.
func sipHash24(key *sipKey, blocks []uint64, last uint64) uint64 {
	v0 := key[0] ^ 0x736f6d6570736575
	v1 := key[1] ^ 0x646f72616e646f6d
	v2 := key[0] ^ 0x6c7967656e657261
	v3 := key[1] ^ 0x7465646279746573
	for _, m := range blocks {
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// lastBlock returns the last SipHash block of a message of msgLen bytes
// whose final msgLen mod 8 bytes, read little-endian, are tail.
func lastBlock(tail uint64, msgLen int) uint64 { return tail | uint64(msgLen)<<56 }

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
