// Package nat rewrites addresses and ports of a parsed packet in place, with
// incremental checksum updates (RFC 1624): VIP:port to RIP:port on the way
// in, RIP:port back to VIP:port on the way out, and (FULLNAT) the client to a
// local address.
package nat

import "fastlvs/header"

// RewriteDestination sets the destination address and port of p's frame.
// p must have parsed as TCP or UDP.
func RewriteDestination(p *header.Packet, addr *[16]byte, port uint16) {
	if p.IsIPv6 {
		ip := p.IPv6()
		old := ip.DestinationAddress()
		ip.SetDestinationAddress(*addr)
		updateL4Address(p, old[:], addr[:])
	} else {
		ip := p.IPv4()
		old := ip.DestinationAddress()
		v4 := header.Unmap4(addr)
		ip.SetDestinationAddressWithChecksumUpdate(v4)
		updateL4Address(p, old[:], v4[:])
	}
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
	if p.IsIPv6 {
		ip := p.IPv6()
		old := ip.SourceAddress()
		ip.SetSourceAddress(*addr)
		updateL4Address(p, old[:], addr[:])
	} else {
		ip := p.IPv4()
		old := ip.SourceAddress()
		v4 := header.Unmap4(addr)
		ip.SetSourceAddressWithChecksumUpdate(v4)
		updateL4Address(p, old[:], v4[:])
	}
	p.Src = *addr
	if p.Proto == header.ProtocolTCP {
		p.TCP().SetSourcePortWithChecksumUpdate(port)
	} else {
		p.UDP().SetSourcePortWithChecksumUpdate(port)
	}
	p.SrcPort = port
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
