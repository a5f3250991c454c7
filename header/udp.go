package header

import "encoding/binary"

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDPMinimumSize is the size of a UDP header.
const UDPMinimumSize = 8

// UDP is a view of a UDP datagram (header and payload). Call IsValid first;
// the other methods do not check bounds.
//
// A checksum field of 0 means "no checksum" (IPv4): every update leaves it 0.
// A computed checksum of 0 is carried as 0xFFFF (RFC 768).
type UDP []byte

// IsValid reports whether b holds a UDP header for a datagram of dgramLen
// bytes (dgramLen <= len(b)): the length field is at least 8 and fits in
// dgramLen.
func (b UDP) IsValid(dgramLen int) bool {
	if len(b) < UDPMinimumSize || dgramLen > len(b) {
		return false
	}
	l := int(b.Length())
	return l >= UDPMinimumSize && l <= dgramLen
}

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field (header and payload).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// SetLength sets the length field without updating the checksum.
func (b UDP) SetLength(l uint16) { binary.BigEndian.PutUint16(b[udpLength:], l) }

// SetSourcePort sets the source port without updating the checksum.
func (b UDP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], port) }

// SetDestinationPort sets the destination port without updating the checksum.
func (b UDP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], port) }

// Checksum returns the checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// Payload returns the data after the header, bounded by the length field.
func (b UDP) Payload() []byte { return b[UDPMinimumSize:b.Length()] }

// updateChecksum stores an incrementally updated checksum, keeping 0 ("no
// checksum") and mapping a computed 0 to 0xFFFF.
func (b UDP) updateChecksum(xsum uint16) {
	if xsum == 0 {
		xsum = 0xffff
	}
	b.SetChecksum(xsum)
}

// SetSourcePortWithChecksumUpdate sets the source port and updates the
// checksum incrementally unless it is 0.
func (b UDP) SetSourcePortWithChecksumUpdate(port uint16) {
	if c := b.Checksum(); c != 0 {
		b.updateChecksum(ChecksumUpdateUint16(c, b.SourcePort(), port))
	}
	binary.BigEndian.PutUint16(b[udpSrcPort:], port)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and updates
// the checksum incrementally unless it is 0.
func (b UDP) SetDestinationPortWithChecksumUpdate(port uint16) {
	if c := b.Checksum(); c != 0 {
		b.updateChecksum(ChecksumUpdateUint16(c, b.DestinationPort(), port))
	}
	binary.BigEndian.PutUint16(b[udpDstPort:], port)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum after an address in
// the pseudo-header changed from old to new (both 4 or both 16 bytes), unless
// the checksum is 0.
func (b UDP) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	if c := b.Checksum(); c != 0 {
		b.updateChecksum(ChecksumUpdate2ByteAligned(c, old, new))
	}
}

// CalculateChecksum returns the value the checksum field should hold, summed
// over the whole view as if the field were zero, plus pseudo =
// PseudoHeaderChecksum(ProtocolUDP, src, dst, Length()). A result of 0 is
// returned as 0xFFFF. For tests and slow paths only.
func (b UDP) CalculateChecksum(pseudo uint16) uint16 {
	xsum := Checksum(b[:udpChecksum], pseudo)
	c := ^Checksum(b[udpChecksum+2:], xsum)
	if c == 0 {
		return 0xffff
	}
	return c
}
