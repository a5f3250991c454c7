package synproxy

import (
	"encoding/binary"
	"testing"
)

// Test vectors of the SipHash paper (Appendix A and the reference
// implementation's vectors.h): key 00..0f, message 00..n-1.
func TestSipHash24Vectors(t *testing.T) {
	key := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, tc := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
	} {
		if got := sipHashBytes(&key, msg[:tc.n]); got != tc.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", tc.n, got, tc.want)
		}
	}
}

// sipHashBytes hashes a byte message through sipHash24's block interface.
func sipHashBytes(key *sipKey, msg []byte) uint64 {
	var blocks []uint64
	for len(msg) >= 8 {
		blocks = append(blocks, binary.LittleEndian.Uint64(msg))
		msg = msg[8:]
	}
	var tail uint64
	for i, c := range msg {
		tail |= uint64(c) << (8 * i)
	}
	return sipHash24(key, blocks, lastBlock(tail, len(blocks)*8+len(msg)))
}
