package header

import "encoding/binary"

// IPv6 header (RFC 8200 section 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Source Address                        +
//	|                          (16 bytes)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                      Destination Address                      +
//	|                          (16 bytes)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv6VersTCFL   = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6SrcAddr    = 8
	ipv6DstAddr    = 24
)

// IPv6MinimumSize is the size of the fixed IPv6 header.
const IPv6MinimumSize = 40

// IPv6FragmentHeader is the next-header value of the IPv6 fragment header.
const IPv6FragmentHeader = 44

// IPv6 is a view of an IPv6 header and what follows it. Call IsValid first;
// the other methods do not check bounds. Extension headers are not walked:
// NextHeader reports the value in the fixed header only.
type IPv6 []byte

// IsValid reports whether b holds an IPv6 header for a packet of pktSize
// bytes (pktSize <= len(b)): version 6 and a payload that fits in pktSize.
// Trailing bytes past the payload length (Ethernet padding) are allowed.
func (b IPv6) IsValid(pktSize int) bool {
	if len(b) < IPv6MinimumSize || pktSize > len(b) {
		return false
	}
	return b[ipv6VersTCFL]>>4 == 6 && IPv6MinimumSize+int(b.PayloadLength()) <= pktSize
}

// TrafficClass returns the traffic class byte.
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ipv6VersTCFL:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[ipv6VersTCFL:]) & 0x000fffff
}

// PayloadLength returns the payload length (extension headers included).
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLen:]) }

// SetPayloadLength sets the payload length.
func (b IPv6) SetPayloadLength(l uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLen:], l) }

// NextHeader returns the next-header field of the fixed header.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeader] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// SetHopLimit sets the hop limit (IPv6 has no header checksum).
func (b IPv6) SetHopLimit(h uint8) { b[ipv6HopLimit] = h }

// SourceAddress returns the source address.
func (b IPv6) SourceAddress() [16]byte { return [16]byte(b[ipv6SrcAddr : ipv6SrcAddr+16]) }

// DestinationAddress returns the destination address.
func (b IPv6) DestinationAddress() [16]byte { return [16]byte(b[ipv6DstAddr : ipv6DstAddr+16]) }

// SetSourceAddress sets the source address. The L4 checksum covers it through
// its pseudo-header: update it with UpdateChecksumPseudoHeaderAddress.
func (b IPv6) SetSourceAddress(a [16]byte) { copy(b[ipv6SrcAddr:ipv6SrcAddr+16], a[:]) }

// SetDestinationAddress sets the destination address. The L4 checksum covers
// it through its pseudo-header: update it with UpdateChecksumPseudoHeaderAddress.
func (b IPv6) SetDestinationAddress(a [16]byte) { copy(b[ipv6DstAddr:ipv6DstAddr+16], a[:]) }

// Payload returns the bytes after the fixed header, bounded by the payload
// length (so Ethernet padding is excluded).
func (b IPv6) Payload() []byte {
	return b[IPv6MinimumSize : IPv6MinimumSize+int(b.PayloadLength())]
}

// IPv6Fields describes a fixed IPv6 header, for Encode.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32 // low 20 bits
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      [16]byte
}

// Encode writes the 40-byte fixed header from f into b. b must be at least
// IPv6MinimumSize bytes long.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b[ipv6VersTCFL:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0x000fffff)
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], f.PayloadLength)
	b[ipv6NextHeader] = f.NextHeader
	b[ipv6HopLimit] = f.HopLimit
	copy(b[ipv6SrcAddr:ipv6SrcAddr+16], f.Src[:])
	copy(b[ipv6DstAddr:ipv6DstAddr+16], f.Dst[:])
}
