package header

import "encoding/binary"

// Checksum returns the RFC 1071 one's complement sum of buf, folded to 16
// bits, added to initial. The result is not inverted: store ^sum in a header
// checksum field. An odd trailing byte is summed as the high byte of a word,
// so Checksum(b[n:], Checksum(b[:n], 0)) equals Checksum(b, 0) for any even n.
func Checksum(buf []byte, initial uint16) uint16 {
	sum := uint64(initial)
	// Summing 32-bit big-endian words and folding at the end gives the same
	// one's complement sum as 16-bit words (RFC 1071 section 2(B), "byte order
	// independence" and "parallel summation"), with half the additions.
	for len(buf) >= 8 {
		sum += uint64(binary.BigEndian.Uint32(buf)) + uint64(binary.BigEndian.Uint32(buf[4:]))
		buf = buf[8:]
	}
	for len(buf) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(buf))
		buf = buf[2:]
	}
	if len(buf) == 1 {
		sum += uint64(buf[0]) << 8
	}
	return fold64(sum)
}

// fold64 reduces a wide sum to 16 bits with end-around carry.
func fold64(sum uint64) uint16 {
	sum = sum&0xffffffff + sum>>32
	sum = sum&0xffffffff + sum>>32
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	return uint16(sum)
}

// ChecksumCombine returns the one's complement sum of two partial sums.
func ChecksumCombine(a, b uint16) uint16 {
	v := uint32(a) + uint32(b)
	return uint16(v + v>>16)
}

// ChecksumUpdate2ByteAligned returns the new value of a checksum field when
// the 2-byte aligned bytes old (covered by that checksum) are replaced by new.
// xsum is the checksum field as carried in the header (HC) and the result is
// the field value to store (HC'). old and new have the same even length; the
// caller writes new into the packet itself.
//
// RFC 1624 section 3, eqn. 3:
//
//	HC' = ~(~HC + ~m + m')
//
// where m is an old 16-bit word and m' its new value. Eqn. 3 (rather than
// eqn. 2, HC' = HC - ~m - m') never produces the -0 form 0xFFFF from a header
// whose data is not all zeros, so the result equals a full recomputation.
func ChecksumUpdate2ByteAligned(xsum uint16, old, new []byte) uint16 {
	sum := uint64(^xsum)
	for i := 0; i+1 < len(old); i += 2 {
		sum += uint64(^binary.BigEndian.Uint16(old[i:])) + uint64(binary.BigEndian.Uint16(new[i:]))
	}
	return ^fold64(sum)
}

// ChecksumUpdateDelta is ChecksumUpdate2ByteAligned for a caller that sums
// the changed words itself: delta is the sum of ~m + m' over them (RFC 1624
// eqn. 3), so changes to several fields fold once.
func ChecksumUpdateDelta(xsum uint16, delta uint64) uint16 {
	return ^fold64(uint64(^xsum) + delta)
}

// ChecksumUpdateUint16 is ChecksumUpdate2ByteAligned for a single 16-bit word:
// it returns the checksum field value after the word old becomes new.
func ChecksumUpdateUint16(xsum, old, new uint16) uint16 {
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
	return ^ChecksumCombine(ChecksumCombine(^xsum, ^old), new)
}

// PseudoHeaderChecksum returns the (not inverted) one's complement sum of the
// TCP/UDP/ICMPv6 pseudo-header: source and destination addresses (both 4 or
// both 16 bytes), the protocol number and the upper-layer length. The IPv4
// (RFC 793) and IPv6 (RFC 8200 section 8.1) layouts have the same sum.
func PseudoHeaderChecksum(proto uint8, src, dst []byte, length uint16) uint16 {
	xsum := Checksum(src, 0)
	xsum = Checksum(dst, xsum)
	return ChecksumCombine(xsum, ChecksumCombine(uint16(proto), length))
}

// ChecksumFold reduces a wide sum of 16-bit words to 16 bits with
// end-around carry, for callers that accumulate several RFC 1624 changes
// before storing a checksum once.
func ChecksumFold(sum uint64) uint16 { return fold64(sum) }
