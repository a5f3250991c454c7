package header

// ParseResult is the verdict of Packet.Parse. Every value but ParseOK names a
// reason to drop or pass the packet; String gives the counter name.
type ParseResult uint8

// Parse verdicts.
const (
	ParseOK            ParseResult = iota
	ParseTooShort                  // frame ends before a header or the IP length says
	ParseNotIP                     // EtherType is neither IPv4 nor IPv6 (ARP, LLDP, ...)
	ParseBadIPv4                   // wrong version, IHL < 5, total length < IHL*4
	ParseBadIPv6                   // wrong version
	ParseFragment                  // IPv4 MF/offset, or an IPv6 fragment header
	ParseBadTCP                    // data offset < 20 or past the segment
	ParseBadUDP                    // UDP length < 8 or past the datagram
	ParseBadICMP                   // shorter than 8 bytes
	ParseUnsupportedL4             // any other protocol / next header (incl. IPv6 extension headers)

	// NumParseResults sizes per-verdict counter arrays.
	NumParseResults = iota
)

var parseResultNames = [NumParseResults]string{
	ParseOK:            "ok",
	ParseTooShort:      "too_short",
	ParseNotIP:         "not_ip",
	ParseBadIPv4:       "bad_ipv4",
	ParseBadIPv6:       "bad_ipv6",
	ParseFragment:      "fragment",
	ParseBadTCP:        "bad_tcp",
	ParseBadUDP:        "bad_udp",
	ParseBadICMP:       "bad_icmp",
	ParseUnsupportedL4: "unsupported_l4",
}

// String returns the snake_case name used for the verdict's counter.
func (r ParseResult) String() string {
	if int(r) < len(parseResultNames) {
		return parseResultNames[r]
	}
	return "unknown"
}

// maxVLANTags is how many 802.1Q/802.1ad tags Parse skips (QinQ).
const maxVLANTags = 2

// Packet is the parsed summary of one frame. Parse fills it in place; the
// views (IPv4, TCP, ...) point into Frame, so rewrites through them change the
// frame. A Packet can be reused for every frame of a batch.
type Packet struct {
	Frame     []byte   // the whole frame
	L3Off     int      // offset of the IP header in Frame
	L4Off     int      // offset of the L4 header in Frame
	EtherType uint16   // after VLAN tags (up to two tags skipped)
	IsIPv6    bool     // the field cannot be named IPv6: that is the view method
	Proto     uint8    // IPv4 protocol or IPv6 next header
	Src, Dst  [16]byte // As16 form (IPv4 is v4-mapped)
	SrcPort   uint16   // 0 for ICMP
	DstPort   uint16   // 0 for ICMP
	TCPFlags  uint8
	L4Len     int // L4 header and payload, bounded by the IP length (no Ethernet padding)
}

// Parse parses an Ethernet frame through its L4 header. It does not allocate
// and does not verify the IPv4 header checksum (incremental updates carry a
// bad checksum through, so the receiver still drops the packet).
//
// On ParseOK every field is set and the views are in bounds. On
// ParseFragment and ParseUnsupportedL4 the L3 fields (offsets, addresses,
// Proto, L4Len) are set, so a caller can still inspect the packet (for
// example an IPIP packet to decapsulate); the L4 views must not be used.
func (p *Packet) Parse(frame []byte) ParseResult {
	*p = Packet{Frame: frame}
	if len(frame) < EthernetMinimumSize {
		return ParseTooShort
	}
	off := EthernetMinimumSize
	etherType := Ethernet(frame).Type()
	for range maxVLANTags {
		if etherType != EtherTypeVLAN && etherType != EtherTypeQinQ {
			break
		}
		if len(frame) < off+VLANSize {
			return ParseTooShort
		}
		etherType = VLAN(frame[off:]).Type()
		off += VLANSize
	}
	p.EtherType = etherType
	p.L3Off = off

	var r ParseResult
	switch etherType {
	case EtherTypeIPv4:
		r = p.parseIPv4(frame[off:])
	case EtherTypeIPv6:
		r = p.parseIPv6(frame[off:])
	default:
		return ParseNotIP
	}
	if r != ParseOK {
		return r
	}
	return p.parseL4()
}

func (p *Packet) parseIPv4(b IPv4) ParseResult {
	if len(b) < IPv4MinimumSize {
		return ParseTooShort
	}
	hlen := b.HeaderLength()
	tlen := int(b.TotalLength())
	if b[ipv4VersIHL]>>4 != 4 || hlen < IPv4MinimumSize || tlen < hlen {
		return ParseBadIPv4
	}
	if tlen > len(b) {
		return ParseTooShort
	}
	p.Proto = b.Protocol()
	putAs16From4(&p.Src, b[ipv4SrcAddr:])
	putAs16From4(&p.Dst, b[ipv4DstAddr:])
	p.L4Off = p.L3Off + hlen
	p.L4Len = tlen - hlen
	if b.IsFragment() {
		return ParseFragment
	}
	return ParseOK
}

func (p *Packet) parseIPv6(b IPv6) ParseResult {
	if len(b) < IPv6MinimumSize {
		return ParseTooShort
	}
	if b[ipv6VersTCFL]>>4 != 6 {
		return ParseBadIPv6
	}
	plen := int(b.PayloadLength())
	if IPv6MinimumSize+plen > len(b) {
		return ParseTooShort
	}
	p.IsIPv6 = true
	p.Proto = b.NextHeader()
	p.Src = b.SourceAddress()
	p.Dst = b.DestinationAddress()
	p.L4Off = p.L3Off + IPv6MinimumSize
	p.L4Len = plen
	if p.Proto == IPv6FragmentHeader {
		return ParseFragment
	}
	return ParseOK
}

func (p *Packet) parseL4() ParseResult {
	l4 := p.Frame[p.L4Off : p.L4Off+p.L4Len]
	switch {
	case p.Proto == ProtocolTCP:
		tcp := TCP(l4)
		if !tcp.IsValid(len(l4)) {
			return ParseBadTCP
		}
		p.SrcPort = tcp.SourcePort()
		p.DstPort = tcp.DestinationPort()
		p.TCPFlags = tcp.Flags()
	case p.Proto == ProtocolUDP:
		udp := UDP(l4)
		if !udp.IsValid(len(l4)) {
			return ParseBadUDP
		}
		p.SrcPort = udp.SourcePort()
		p.DstPort = udp.DestinationPort()
	case p.Proto == ProtocolICMPv4 && !p.IsIPv6, p.Proto == ProtocolICMPv6 && p.IsIPv6:
		if len(l4) < ICMPMinimumSize {
			return ParseBadICMP
		}
	default:
		return ParseUnsupportedL4
	}
	return ParseOK
}

// Ethernet returns the Ethernet header view.
func (p *Packet) Ethernet() Ethernet { return Ethernet(p.Frame) }

// IPv4 returns the IPv4 view, bounded by the total length.
func (p *Packet) IPv4() IPv4 { return IPv4(p.l3()) }

// IPv6 returns the IPv6 view, bounded by the payload length.
func (p *Packet) IPv6() IPv6 { return IPv6(p.l3()) }

// TCP returns the TCP view, bounded by L4Len.
func (p *Packet) TCP() TCP { return TCP(p.l4()) }

// UDP returns the UDP view, bounded by L4Len (the UDP length field may be
// shorter; see UDP.Payload).
func (p *Packet) UDP() UDP { return UDP(p.l4()) }

// ICMPv4 returns the ICMPv4 view, bounded by L4Len.
func (p *Packet) ICMPv4() ICMPv4 { return ICMPv4(p.l4()) }

// ICMPv6 returns the ICMPv6 view, bounded by L4Len.
func (p *Packet) ICMPv6() ICMPv6 { return ICMPv6(p.l4()) }

// L4 returns the L4 bytes (header and payload), bounded by L4Len.
func (p *Packet) L4() []byte { return p.l4() }

func (p *Packet) l3() []byte { return p.Frame[p.L3Off : p.L4Off+p.L4Len] }
func (p *Packet) l4() []byte { return p.Frame[p.L4Off : p.L4Off+p.L4Len] }
