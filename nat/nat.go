// Package nat rewrites addresses and ports of a parsed packet in place, with
// incremental checksum updates (RFC 1624): VIP:port to RIP:port on the way
// in, RIP:port back to VIP:port on the way out, and (FULLNAT) the client to a
// local address.
package nat

import (
	"encoding/binary"

	"fastlvs/header"
)

// RewriteDestination sets the destination address and port of p's frame.
// p must have parsed as TCP or UDP.
func RewriteDestination(p *header.Packet, addr *[16]byte, port uint16) {
	if !p.IsIPv6 {
		rewrite4(p, ipv4AddrsOff+4, 2, addr, port)
		p.Dst, p.DstPort = *addr, port
		return
	}
	ip := p.IPv6()
	old := ip.DestinationAddress()
	ip.SetDestinationAddress(*addr)
	updateL4Address(p, old[:], addr[:])
	p.Dst = *addr
	if p.Proto == header.ProtocolTCP {
		p.TCP().SetDestinationPortWithChecksumUpdate(port)
	} else {
		p.UDP().SetDestinationPortWithChecksumUpdate(port)
	}
	p.DstPort = port
}

// RewriteSource sets the source address and port of p's frame.
func RewriteSource(p *header.Packet, addr *[16]byte, port uint16) {
	if !p.IsIPv6 {
		rewrite4(p, ipv4AddrsOff, 0, addr, port)
		p.Src, p.SrcPort = *addr, port
		return
	}
	ip := p.IPv6()
	old := ip.SourceAddress()
	ip.SetSourceAddress(*addr)
	updateL4Address(p, old[:], addr[:])
	p.Src = *addr
	if p.Proto == header.ProtocolTCP {
		p.TCP().SetSourcePortWithChecksumUpdate(port)
	} else {
		p.UDP().SetSourcePortWithChecksumUpdate(port)
	}
	p.SrcPort = port
}

// rewrite4 sets one IPv4 address (at addrOff in the IP header) and its port
// (at portOff in the TCP/UDP header) of p's frame. The address's two words
// enter the IP header checksum and, through the pseudo-header, the TCP/UDP
// checksum, where the port word joins them: one sum of the changes, one fold
// per checksum (RFC 1624 eqn. 3), instead of a fold per field.
func rewrite4(p *header.Packet, addrOff, portOff int, addr *[16]byte, port uint16) {
	ip, l4 := p.IPv4(), p.L4()
	newAddr := binary.BigEndian.Uint32(addr[12:])
	addrDelta := wordsDelta(binary.BigEndian.Uint32(ip[addrOff:]), newAddr)
	ip.SetChecksum(header.ChecksumUpdateDelta(ip.Checksum(), addrDelta))
	updateL4Checksum(p, addrDelta+uint64(^binary.BigEndian.Uint16(l4[portOff:]))+uint64(port))
	binary.BigEndian.PutUint32(ip[addrOff:], newAddr)
	binary.BigEndian.PutUint16(l4[portOff:], port)
}

// wordsDelta is ~m + m' summed over the two 16-bit words of a 32-bit field
// that changes from old to new (RFC 1624 eqn. 3; see
// header.ChecksumUpdateDelta).
func wordsDelta(old, new uint32) uint64 {
	return uint64(^old>>16) + uint64(^old&0xffff) + uint64(new>>16) + uint64(new&0xffff)
}

// updateL4Checksum applies delta to p's TCP or UDP checksum. A UDP checksum
// of 0 (none) stays 0; a computed 0 is sent as 0xFFFF (RFC 768).
func updateL4Checksum(p *header.Packet, delta uint64) {
	if p.Proto == header.ProtocolTCP {
		tcp := p.TCP()
		tcp.SetChecksum(header.ChecksumUpdateDelta(tcp.Checksum(), delta))
	} else if udp := p.UDP(); udp.Checksum() != 0 {
		xsum := header.ChecksumUpdateDelta(udp.Checksum(), delta)
		if xsum == 0 {
			xsum = 0xffff
		}
		udp.SetChecksum(xsum)
	}
}

// updateL4Address folds an address change into the TCP/UDP checksum, which
// covers the addresses through the pseudo-header.
func updateL4Address(p *header.Packet, old, new []byte) {
	if p.Proto == header.ProtocolTCP {
		p.TCP().UpdateChecksumPseudoHeaderAddress(old, new)
	} else {
		p.UDP().UpdateChecksumPseudoHeaderAddress(old, new)
	}
}
