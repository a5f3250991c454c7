package nat

import (
	"encoding/binary"

	"fastlvs/header"
)

// Where the address pair and the port pair sit: the source and destination
// addresses are adjacent in both IP headers, the ports at the start of both
// TCP and UDP.
//
//	IPv4: bytes 12..15 source, 16..19 destination (RFC 791)
//	IPv6: bytes  8..23 source, 24..39 destination (RFC 8200)
//	TCP/UDP: bytes 0..1 source port, 2..3 destination port
const (
	ipv4AddrsOff = 12
	ipv6AddrsOff = 8
)

// RewriteFullNAT sets both endpoints of p's frame: source src:sport,
// destination dst:dport. FULLNAT changes all four at once, so the IPv4
// header checksum takes one incremental update over the address pair and the
// TCP/UDP checksum one over the address pair (its pseudo-header) and one
// over the port pair (RFC 1624 eqn. 3), instead of one update per field.
// A UDP checksum of 0 (none) stays 0. p must have parsed as TCP or
// UDP, and src and dst must be of the packet's address family.
func RewriteFullNAT(p *header.Packet, src *[16]byte, sport uint16, dst *[16]byte, dport uint16) {
	var addrs [32]byte
	var old, next []byte
	if p.IsIPv6 {
		ip := p.IPv6()
		old = ip[ipv6AddrsOff : ipv6AddrsOff+32]
		copy(addrs[:16], src[:])
		copy(addrs[16:], dst[:])
		next = addrs[:32]
	} else {
		ip := p.IPv4()
		old = ip[ipv4AddrsOff : ipv4AddrsOff+8]
		copy(addrs[:4], src[12:])
		copy(addrs[4:8], dst[12:])
		next = addrs[:8]
		ip.SetChecksum(header.ChecksumUpdate2ByteAligned(ip.Checksum(), old, next))
	}
	var ports [4]byte
	binary.BigEndian.PutUint16(ports[0:], sport)
	binary.BigEndian.PutUint16(ports[2:], dport)
	l4 := p.L4()
	if p.Proto == header.ProtocolTCP {
		tcp := p.TCP()
		xsum := header.ChecksumUpdate2ByteAligned(tcp.Checksum(), old, next)
		tcp.SetChecksum(header.ChecksumUpdate2ByteAligned(xsum, l4[:4], ports[:]))
	} else if udp := p.UDP(); udp.Checksum() != 0 {
		xsum := header.ChecksumUpdate2ByteAligned(udp.Checksum(), old, next)
		xsum = header.ChecksumUpdate2ByteAligned(xsum, l4[:4], ports[:])
		if xsum == 0 { // a computed 0 is sent as 0xFFFF (RFC 768)
			xsum = 0xffff
		}
		udp.SetChecksum(xsum)
	}
	copy(old, next)
	copy(l4[:4], ports[:])
	p.Src, p.SrcPort = *src, sport
	p.Dst, p.DstPort = *dst, dport
}
