package header

import "encoding/binary"

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv4VersIHL  = 0
	ipv4TOS      = 1
	ipv4TotalLen = 2
	ipv4ID       = 4
	ipv4FlagsFO  = 6
	ipv4TTL      = 8
	ipv4Protocol = 9
	ipv4Checksum = 10
	ipv4SrcAddr  = 12
	ipv4DstAddr  = 16
)

// IPv4MinimumSize is the size of an IPv4 header without options.
const IPv4MinimumSize = 20

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtocolICMPv4 = 1
	ProtocolIPIP   = 4
	ProtocolTCP    = 6
	ProtocolUDP    = 17
	ProtocolIPv6   = 41
	ProtocolICMPv6 = 58
)

// IPv4 flag bits as returned by Flags and taken by IPv4Fields.Flags.
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
)

// IPv4 is a view of an IPv4 header and what follows it. Call IsValid first;
// the other methods do not check bounds.
type IPv4 []byte

// IsValid reports whether b holds a well-formed IPv4 header for a packet of
// pktSize bytes (pktSize <= len(b)): version 4, IHL >= 5, and a total length
// that covers the header and fits in pktSize. Trailing bytes past the total
// length (Ethernet padding) are allowed.
func (b IPv4) IsValid(pktSize int) bool {
	if len(b) < IPv4MinimumSize || pktSize > len(b) {
		return false
	}
	hlen := b.HeaderLength()
	tlen := int(b.TotalLength())
	return b[ipv4VersIHL]>>4 == 4 && hlen >= IPv4MinimumSize && hlen <= tlen && tlen <= pktSize
}

// HeaderLength returns the header length in bytes (IHL * 4).
func (b IPv4) HeaderLength() int { return int(b[ipv4VersIHL]&0x0f) * 4 }

// TOS returns the type of service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// TotalLength returns the total length field: header plus payload.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }

// SetTotalLength sets the total length field without updating the checksum.
func (b IPv4) SetTotalLength(l uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLen:], l) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// Flags returns the three flag bits (IPv4FlagMoreFragments, IPv4FlagDontFragment).
func (b IPv4) Flags() uint8 { return b[ipv4FlagsFO] >> 5 }

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b.Flags()&IPv4FlagMoreFragments != 0 }

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b.Flags()&IPv4FlagDontFragment != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv4FlagsFO:]) << 3
}

// IsFragment reports whether the packet is a fragment: MF set or a non-zero
// offset. Only the first fragment carries the L4 header.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFO:])&0x3fff != 0
}

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// Protocol returns the protocol number of the payload.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// SourceAddress returns the source address.
func (b IPv4) SourceAddress() [4]byte { return [4]byte(b[ipv4SrcAddr : ipv4SrcAddr+4]) }

// DestinationAddress returns the destination address.
func (b IPv4) DestinationAddress() [4]byte { return [4]byte(b[ipv4DstAddr : ipv4DstAddr+4]) }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipv4Checksum:], c) }

// CalculateChecksum returns the value the header checksum field should hold,
// computed over the whole header (options included) as if the field were zero.
func (b IPv4) CalculateChecksum() uint16 {
	xsum := Checksum(b[:ipv4Checksum], 0)
	return ^Checksum(b[ipv4Checksum+2:b.HeaderLength()], xsum)
}

// IsChecksumValid reports whether the header checksum is correct.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// SetSourceAddressWithChecksumUpdate sets the source address and updates the
// header checksum incrementally. The L4 checksum covers the address through
// its pseudo-header: update it with UpdateChecksumPseudoHeaderAddress.
func (b IPv4) SetSourceAddressWithChecksumUpdate(addr [4]byte) {
	b.setAddressWithChecksumUpdate(ipv4SrcAddr, &addr)
}

// SetDestinationAddressWithChecksumUpdate sets the destination address and
// updates the header checksum incrementally. The L4 checksum covers the
// address through its pseudo-header: update it with
// UpdateChecksumPseudoHeaderAddress.
func (b IPv4) SetDestinationAddressWithChecksumUpdate(addr [4]byte) {
	b.setAddressWithChecksumUpdate(ipv4DstAddr, &addr)
}

func (b IPv4) setAddressWithChecksumUpdate(off int, addr *[4]byte) {
	field := b[off : off+4]
	b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), field, addr[:]))
	copy(field, addr[:])
}

// SetSourceAddress sets the source address without updating the checksum.
func (b IPv4) SetSourceAddress(addr [4]byte) { copy(b[ipv4SrcAddr:ipv4SrcAddr+4], addr[:]) }

// SetDestinationAddress sets the destination address without updating the checksum.
func (b IPv4) SetDestinationAddress(addr [4]byte) { copy(b[ipv4DstAddr:ipv4DstAddr+4], addr[:]) }

// DecTTLWithChecksumUpdate decrements the TTL and updates the header checksum
// incrementally. The caller checks TTL() > 1 first; a TTL of 0 wraps to 255.
func (b IPv4) DecTTLWithChecksumUpdate() {
	// TTL shares its 16-bit checksum word with the protocol byte. The new
	// word is computed, not read back: reading a word just written one byte
	// of stalls the store forwarding.
	old := binary.BigEndian.Uint16(b[ipv4TTL:])
	next := old - 1<<8
	binary.BigEndian.PutUint16(b[ipv4TTL:], next)
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), old, next))
}

// Payload returns the bytes after the header, bounded by the total length
// (so Ethernet padding is excluded).
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// IPv4Fields describes an IPv4 header without options, for Encode.
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16
	ID             uint16
	Flags          uint8  // IPv4FlagMoreFragments | IPv4FlagDontFragment
	FragmentOffset uint16 // in bytes, a multiple of 8
	TTL            uint8
	Protocol       uint8
	Src, Dst       [4]byte
}

// Encode writes a 20-byte header (IHL 5) from f into b, checksum included.
// b must be at least IPv4MinimumSize bytes long.
func (b IPv4) Encode(f *IPv4Fields) {
	b[ipv4VersIHL] = 4<<4 | IPv4MinimumSize/4
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFO:], uint16(f.Flags)<<13|(f.FragmentOffset>>3)&0x1fff)
	b[ipv4TTL] = f.TTL
	b[ipv4Protocol] = f.Protocol
	copy(b[ipv4SrcAddr:ipv4SrcAddr+4], f.Src[:])
	copy(b[ipv4DstAddr:ipv4DstAddr+4], f.Dst[:])
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b[:IPv4MinimumSize], 0))
}
