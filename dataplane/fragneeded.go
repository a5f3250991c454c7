package dataplane

import (
	"encoding/binary"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// An IPv4 packet that no longer fits the egress MTU once encapsulated, and
// that the client sent with DF set, is answered as IPVS answers it: with an
// ICMP "fragmentation needed" carrying the MTU left for the inner packet, so
// the client's path-MTU discovery shrinks its segments. The reply comes from
// the VIP (the address the client sent to) and is built in place, in front
// of the offending packet's own IP header, which (with 8 bytes of its
// payload) is the ICMP message's quoted datagram.

const (
	icmpv4DestUnreachable   = 3
	icmpv4FragmentationCode = 4
	// fragNeededHeaders is what goes in front of the quoted datagram:
	// Ethernet, IPv4 and the ICMP header.
	fragNeededHeaders = header.EthernetMinimumSize + header.IPv4MinimumSize + header.ICMPMinimumSize
)

// answerFragmentationNeeded turns the frame into an ICMP fragmentation-needed
// message to c's client advertising mtu, and transmits it. It reports false
// when the packet does not qualify (IPv6, DF clear, no room), leaving the
// frame untouched; the caller then just drops it.
func (w *Worker) answerFragmentationNeeded(c *conntrack.Conn, pkt *packet, mtu int) (verdict, bool) {
	p := &pkt.hdr
	if p.IsIPv6 || !p.IPv4().DontFragment() {
		return verdict{}, false
	}
	quoted := p.IPv4().HeaderLength() + 8 // the IP header and 8 bytes of payload
	l3 := pkt.off + p.L3Off
	start := l3 - fragNeededHeaders
	if start < 0 || l3+quoted > pkt.off+pkt.size {
		return verdict{}, false
	}
	out := pkt.buf[start : l3+quoted]

	eth := header.Ethernet(out)
	eth.SetType(header.EtherTypeIPv4)
	ip := header.IPv4(out[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TOS:         0xc0, // internetwork control, as the kernel sends ICMP errors
		TotalLength: uint16(header.IPv4MinimumSize + header.ICMPMinimumSize + quoted),
		TTL:         64,
		Protocol:    header.ProtocolICMPv4,
		Src:         header.Unmap4(&c.Virtual),
		Dst:         header.Unmap4(&c.Client),
	})
	icmp := out[header.EthernetMinimumSize+header.IPv4MinimumSize:]
	icmp[0], icmp[1] = icmpv4DestUnreachable, icmpv4FragmentationCode
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint16(icmp[4:], 0) // unused
	binary.BigEndian.PutUint16(icmp[6:], uint16(mtu))
	binary.BigEndian.PutUint16(icmp[2:], ^header.Checksum(icmp, 0))

	pkt.setFrame(start, len(out))
	return w.transmitTo(&c.Client, pkt), true
}
