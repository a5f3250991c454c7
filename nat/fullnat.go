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
// destination dst:dport. FULLNAT changes all four at once, so the changes are
// summed once (RFC 1624 eqn. 3): the address pair's words give the IPv4
// header checksum's update, and with the port pair's words on top the
// TCP/UDP checksum's (the addresses are in its pseudo-header), one fold
// each instead of one update per field. A UDP checksum of 0 (none) stays 0.
// p must have parsed as TCP or UDP, and src and dst must be of the packet's
// address family.
func RewriteFullNAT(p *header.Packet, src *[16]byte, sport uint16, dst *[16]byte, dport uint16) {
	var addrs []byte // the address pair in the IP header
	var addrDelta uint64
	if p.IsIPv6 {
		addrs = p.IPv6()[ipv6AddrsOff : ipv6AddrsOff+32]
		for w := 0; w < 16; w += 4 {
			addrDelta += wordsDelta(binary.BigEndian.Uint32(addrs[w:]), binary.BigEndian.Uint32(src[w:])) +
				wordsDelta(binary.BigEndian.Uint32(addrs[16+w:]), binary.BigEndian.Uint32(dst[w:]))
		}
		copy(addrs, src[:])
		copy(addrs[16:], dst[:])
	} else {
		ip := p.IPv4()
		addrs = ip[ipv4AddrsOff : ipv4AddrsOff+8]
		newSrc, newDst := binary.BigEndian.Uint32(src[12:]), binary.BigEndian.Uint32(dst[12:])
		addrDelta = wordsDelta(binary.BigEndian.Uint32(addrs), newSrc) + wordsDelta(binary.BigEndian.Uint32(addrs[4:]), newDst)
		ip.SetChecksum(header.ChecksumUpdateDelta(ip.Checksum(), addrDelta))
		binary.BigEndian.PutUint32(addrs, newSrc)
		binary.BigEndian.PutUint32(addrs[4:], newDst)
	}
	l4 := p.L4()
	newPorts := uint32(sport)<<16 | uint32(dport)
	updateL4Checksum(p, addrDelta+wordsDelta(binary.BigEndian.Uint32(l4), newPorts))
	binary.BigEndian.PutUint32(l4, newPorts)
	p.Src, p.SrcPort = *src, sport
	p.Dst, p.DstPort = *dst, dport
}
