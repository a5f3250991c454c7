package header

import "encoding/binary"

// ICMP header, the same for ICMPv4 (RFC 792) and ICMPv6 (RFC 4443); the
// second word is the identifier and sequence number of echo messages, or
// unused / the MTU of error messages:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data (errors: the invoking packet's IP header and more)   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSeq      = 6
	icmpMTU      = 6 // ICMPv4 "fragmentation needed" (RFC 1191)
	icmpV6MTU    = 4 // ICMPv6 packet too big
)

// ICMPMinimumSize is the size of an ICMP header (v4 or v6).
const ICMPMinimumSize = 8

// ICMPv4 message types.
const (
	ICMPv4EchoReply              = 0
	ICMPv4DestinationUnreachable = 3
	ICMPv4SourceQuench           = 4
	ICMPv4EchoRequest            = 8
	ICMPv4TimeExceeded           = 11
	ICMPv4ParameterProblem       = 12
)

// ICMPv4CodeFragmentationNeeded is the destination-unreachable code that is
// IPv4's "packet too big" (RFC 1191).
const ICMPv4CodeFragmentationNeeded = 4

// ICMPv6 message types.
const (
	ICMPv6DestinationUnreachable = 1
	ICMPv6PacketTooBig           = 2
	ICMPv6TimeExceeded           = 3
	ICMPv6ParameterProblem       = 4
	ICMPv6EchoRequest            = 128
	ICMPv6EchoReply              = 129
)

// ICMPv4 is a view of an ICMPv4 message. Call IsValid first; the other
// methods do not check bounds.
type ICMPv4 []byte

// IsValid reports whether b holds an ICMPv4 header for a message of msgLen
// bytes (msgLen <= len(b)).
func (b ICMPv4) IsValid(msgLen int) bool {
	return msgLen >= ICMPMinimumSize && msgLen <= len(b)
}

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// Ident returns the echo identifier.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdentWithChecksumUpdate sets the echo identifier and updates the
// checksum incrementally.
func (b ICMPv4) SetIdentWithChecksumUpdate(id uint16) {
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), b.Ident(), id))
	binary.BigEndian.PutUint16(b[icmpIdent:], id)
}

// Sequence returns the echo sequence number.
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }

// MTU returns the next-hop MTU of a fragmentation-needed message.
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpMTU:]) }

// Payload returns the bytes after the 8-byte header: for an error, the
// invoking packet's IP header and at least 8 bytes of its payload.
func (b ICMPv4) Payload() []byte { return b[ICMPMinimumSize:] }

// IsError reports whether the message is an error that carries an invoking
// packet (the types IPVS relates to a connection).
func (b ICMPv4) IsError() bool {
	switch b.Type() {
	case ICMPv4DestinationUnreachable, ICMPv4SourceQuench, ICMPv4TimeExceeded, ICMPv4ParameterProblem:
		return true
	}
	return false
}

// CalculateChecksum returns the value the checksum field should hold, summed
// over the whole view as if the field were zero. For tests and slow paths.
func (b ICMPv4) CalculateChecksum() uint16 {
	xsum := Checksum(b[:icmpChecksum], 0)
	return ^Checksum(b[icmpChecksum+2:], xsum)
}

// ICMPv6 is a view of an ICMPv6 message. Call IsValid first; the other
// methods do not check bounds. Unlike ICMPv4, its checksum covers a
// pseudo-header.
type ICMPv6 []byte

// IsValid reports whether b holds an ICMPv6 header for a message of msgLen
// bytes (msgLen <= len(b)).
func (b ICMPv6) IsValid(msgLen int) bool {
	return msgLen >= ICMPMinimumSize && msgLen <= len(b)
}

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// Ident returns the echo identifier.
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdentWithChecksumUpdate sets the echo identifier and updates the
// checksum incrementally.
func (b ICMPv6) SetIdentWithChecksumUpdate(id uint16) {
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), b.Ident(), id))
	binary.BigEndian.PutUint16(b[icmpIdent:], id)
}

// Sequence returns the echo sequence number.
func (b ICMPv6) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }

// MTU returns the MTU of a packet-too-big message.
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[icmpV6MTU:]) }

// Payload returns the bytes after the 8-byte header: for an error, as much
// of the invoking packet as fits.
func (b ICMPv6) Payload() []byte { return b[ICMPMinimumSize:] }

// IsError reports whether the message is an error (RFC 4443 section 2.1:
// types below 128).
func (b ICMPv6) IsError() bool { return b.Type() < 128 }

// UpdateChecksumPseudoHeaderAddress updates the checksum after an address in
// the pseudo-header changed from old to new (16 bytes each).
func (b ICMPv6) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), old, new))
}

// CalculateChecksum returns the value the checksum field should hold, summed
// over the whole view as if the field were zero, plus pseudo =
// PseudoHeaderChecksum(ProtocolICMPv6, src, dst, uint16(len(b))).
func (b ICMPv6) CalculateChecksum(pseudo uint16) uint16 {
	xsum := Checksum(b[:icmpChecksum], pseudo)
	return ^Checksum(b[icmpChecksum+2:], xsum)
}
