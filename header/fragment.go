package header

import "encoding/binary"

// IPv6 fragment header (RFC 8200 section 4.5), 8 bytes:
//
//	| Next Header | Reserved | Fragment Offset (13) |Res|M|
//	|                  Identification (32)                  |
const IPv6FragmentHeaderSize = 8

// Fragment describes one fragment of an IP datagram.
type Fragment struct {
	ID     uint32 // IPv4 identification or IPv6 fragment identification
	Offset uint16 // in bytes
	More   bool   // more fragments follow
}

// First reports whether this is the fragment at offset 0, the one that
// carries the L4 header.
func (f Fragment) First() bool { return f.Offset == 0 }

// ParseFragmentHeader completes the parse of a packet that Parse reported as
// ParseFragment. It reads the fragment's identification and offset; for
// IPv6 it steps over the fragment header, so Proto, L4Off and L4Len then
// describe the fragment's payload as they would an unfragmented packet's.
// A first fragment also gets its ports (and TCP flags): its L4 header must
// be whole in it, or it is refused as ParseBadTCP / ParseBadUDP (a tiny
// first fragment is an attack on filters, never a real sender's choice).
// Only TCP and UDP fragments are accepted; anything else, an IPv6 fragment
// header followed by another extension header included, is
// ParseUnsupportedL4.
func (p *Packet) ParseFragmentHeader() (Fragment, ParseResult) {
	var f Fragment
	if p.IsIPv6 {
		if p.L4Len < IPv6FragmentHeaderSize {
			return f, ParseTooShort
		}
		fh := p.Frame[p.L4Off : p.L4Off+IPv6FragmentHeaderSize]
		p.Proto = fh[0]
		offM := binary.BigEndian.Uint16(fh[2:])
		f.Offset = offM &^ 7
		f.More = offM&1 != 0
		f.ID = binary.BigEndian.Uint32(fh[4:])
		p.L4Off += IPv6FragmentHeaderSize
		p.L4Len -= IPv6FragmentHeaderSize
	} else {
		ip := p.IPv4()
		f.ID = uint32(ip.ID())
		f.Offset = ip.FragmentOffset()
		f.More = ip.MoreFragments()
	}
	if p.Proto != ProtocolTCP && p.Proto != ProtocolUDP {
		return f, ParseUnsupportedL4
	}
	if !f.First() {
		return f, ParseOK
	}
	l4 := p.Frame[p.L4Off : p.L4Off+p.L4Len]
	if p.Proto == ProtocolTCP {
		tcp := TCP(l4)
		if len(l4) < TCPMinimumSize || tcp.DataOffset() < TCPMinimumSize || tcp.DataOffset() > len(l4) {
			return f, ParseBadTCP
		}
		p.SrcPort, p.DstPort, p.TCPFlags = tcp.SourcePort(), tcp.DestinationPort(), tcp.Flags()
		return f, ParseOK
	}
	udp := UDP(l4)
	if len(l4) < UDPMinimumSize || int(udp.Length()) < len(l4) {
		return f, ParseBadUDP // a first fragment holds less than the datagram
	}
	p.SrcPort, p.DstPort = udp.SourcePort(), udp.DestinationPort()
	return f, ParseOK
}
