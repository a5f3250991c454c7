package dataplane

import (
	"encoding/binary"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// ICMP the director writes itself, always in place in the frame that
// caused it: echo replies from a VIP, and errors (time exceeded, and
// fragmentation needed / packet too big in fragneeded.go) built in front of
// the offending packet's own IP header, which with the start of its payload
// is the error's quote. Errors come from the VIP the sender's packet was
// about, as IPVS's do (a FULLNAT reply's, from its local address).

const (
	// icmpTTL is the TTL / hop limit of what the director sends.
	icmpTTL = 64
	// icmpv6QuoteMax keeps an ICMPv6 error within the IPv6 minimum MTU
	// (RFC 4443 section 2.4 (c)).
	icmpv6QuoteMax = 1280 - header.IPv6MinimumSize - header.ICMPMinimumSize
	// Time exceeded messages a worker sends: a burst, then one per
	// interval (the kernel's icmp_ratelimit is 1 per second per
	// destination; this bounds the whole worker instead).
	icmpBurst    = 50
	icmpInterval = int64(1e6) // ns: 1000 per second
)

// icmpBudget is a worker's token bucket for the ICMP errors it sends,
// refilled from the batch clock.
type icmpBudget struct {
	tokens int64
	last   int64
}

// take spends a token at now, if one is left.
func (b *icmpBudget) take(now int64) bool {
	if n := (now - b.last) / icmpInterval; n > 0 {
		b.tokens = min(icmpBurst, b.tokens+n)
		b.last += n * icmpInterval
	}
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}

// buildICMPError turns the frame into an ICMP error about itself, of type
// and code with second word word, from the address from to the packet's
// source, addressed at layer 2 back to the frame's sender (from the MAC it
// was sent to: sendBack or transmitTo set the port's). It reports false,
// the frame untouched, when no headroom is left for the headers.
func buildICMPError(pkt *packet, typ, code uint8, word uint32, from *[16]byte) bool {
	p := &pkt.hdr
	l3 := pkt.off + p.L3Off
	ipLen, quoted := header.IPv4MinimumSize, p.IPv4().HeaderLength()+8
	if p.IsIPv6 {
		ipLen, quoted = header.IPv6MinimumSize, min(p.L4Off-p.L3Off+p.L4Len, icmpv6QuoteMax)
	}
	start := l3 - header.EthernetMinimumSize - ipLen - header.ICMPMinimumSize
	if start < 0 || l3+quoted > pkt.off+pkt.size {
		return false
	}
	// Read what the new headers overwrite: the MACs and the sender.
	eth := header.Ethernet(pkt.frame())
	back, self := eth.SourceAddress(), eth.DestinationAddress()
	to := p.Src

	out := pkt.buf[start : l3+quoted]
	eth = header.Ethernet(out)
	eth.SetDestinationAddress(back)
	eth.SetSourceAddress(self)
	msg := out[header.EthernetMinimumSize+ipLen:]
	msg[0], msg[1] = typ, code
	binary.BigEndian.PutUint16(msg[2:], 0)
	binary.BigEndian.PutUint32(msg[4:], word)
	if p.IsIPv6 {
		eth.SetType(header.EtherTypeIPv6)
		header.IPv6(out[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{
			PayloadLength: uint16(len(msg)), NextHeader: header.ProtocolICMPv6, HopLimit: icmpTTL, Src: *from, Dst: to,
		})
		pseudo := header.PseudoHeaderChecksum(header.ProtocolICMPv6, from[:], to[:], uint16(len(msg)))
		binary.BigEndian.PutUint16(msg[2:], ^header.Checksum(msg, pseudo))
	} else {
		eth.SetType(header.EtherTypeIPv4)
		header.IPv4(out[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{
			TOS:         0xc0, // internetwork control, as the kernel sends ICMP errors
			TotalLength: uint16(header.IPv4MinimumSize + len(msg)),
			TTL:         icmpTTL, Protocol: header.ProtocolICMPv4,
			Src: header.Unmap4(from), Dst: header.Unmap4(&to),
		})
		binary.BigEndian.PutUint16(msg[2:], ^header.Checksum(msg, 0))
	}
	pkt.setFrame(start, len(out))
	return true
}

// answerEcho turns an echo request to a VIP into its reply, in place, and
// sends it back the way the request came.
func (w *Worker) answerEcho(pkt *packet) verdict {
	p := &pkt.hdr
	if !w.table.isVIP(&p.Dst) {
		return w.drop(DropICMPUnhandled)
	}
	msg := p.L4()
	// Swapping the addresses changes neither the IPv4 header checksum nor
	// the ICMPv6 pseudo-header's sum: only the type and the TTL count.
	oldType := binary.BigEndian.Uint16(msg)
	if p.IsIPv6 {
		msg[0] = header.ICMPv6EchoReply
		ip := p.IPv6()
		ip.SetSourceAddress(p.Dst)
		ip.SetDestinationAddress(p.Src)
		ip.SetHopLimit(icmpTTL)
	} else {
		msg[0] = header.ICMPv4EchoReply
		ip := p.IPv4()
		ip.SetSourceAddress(header.Unmap4(&p.Dst))
		ip.SetDestinationAddress(header.Unmap4(&p.Src))
		setTTL(ip, icmpTTL)
	}
	msg[1] = 0
	icmp := header.ICMPv4(msg) // the checksum sits alike in ICMPv6
	icmp.SetChecksum(header.ChecksumUpdateUint16(icmp.Checksum(), oldType, binary.BigEndian.Uint16(msg)))
	p.Src, p.Dst = p.Dst, p.Src
	eth := header.Ethernet(pkt.frame())
	eth.SetDestinationAddress(eth.SourceAddress())
	w.count(CountEchoReplies)
	return w.sendBack(pkt)
}

// sendBack transmits the frame out of the port it came in by, from that
// port's MAC (its destination MAC already names the frame's sender).
func (w *Worker) sendBack(pkt *packet) verdict {
	header.Ethernet(pkt.frame()).SetSourceAddress(w.hop.PortMAC(pkt.inPort))
	return transmitOn(pkt.inPort)
}

// setTTL sets an IPv4 header's TTL, updating its checksum.
func setTTL(ip header.IPv4, ttl uint8) {
	const ttlWord = 8 // TTL and protocol share a checksum word
	old := binary.BigEndian.Uint16(ip[ttlWord:])
	ip[ttlWord] = ttl
	ip.SetChecksum(header.ChecksumUpdateUint16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[ttlWord:])))
}

// routeHop is the router's part of forwarding a NAT or FULLNAT packet of
// connection c, before its rewrite: the TTL / hop limit goes down by one,
// and a packet that arrived with 1 or less goes no further; its sender
// hears time exceeded from the address it sent to (icmpSource), within the
// worker's ICMP budget; for an IPv4 non-first fragment it hears nothing
// (mayAnswer). A packet the egress port cannot carry is answered by
// fitsEgress (fragneeded.go). ok is false when the packet stops, v then
// says what became of it.
func (w *Worker) routeHop(pkt *packet, c *conntrack.Conn, dir conntrack.Dir) (v verdict, ok bool) {
	p := &pkt.hdr
	if p.IsIPv6 {
		ip := p.IPv6()
		if hop := ip.HopLimit(); hop > 1 {
			ip.SetHopLimit(hop - 1)
			return w.fitsEgress(pkt, c, dir)
		}
	} else if ip := p.IPv4(); ip.TTL() > 1 {
		ip.DecTTLWithChecksumUpdate()
		return w.fitsEgress(pkt, c, dir)
	}
	dropped := w.drop(DropTTLExceeded)
	typ := uint8(header.ICMPv4TimeExceeded)
	if p.IsIPv6 {
		typ = header.ICMPv6TimeExceeded
	}
	if !mayAnswer(p) || !w.icmpBudget.take(w.now) || !buildICMPError(pkt, typ, 0, 0, icmpSource(c, dir)) {
		return dropped, false
	}
	w.count(CountTimeExceededSent)
	return w.sendBack(pkt), false
}
