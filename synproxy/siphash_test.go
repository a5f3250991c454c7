package synproxy

import "testing"

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
		if got := sipHash24(&key, msg[:tc.n]); got != tc.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", tc.n, got, tc.want)
		}
	}
}
