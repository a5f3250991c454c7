package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
)

// A packet that no longer fits the egress MTU once encapsulated is answered
// as IPVS answers it: an IPv4 packet sent with DF set gets ICMP
// "fragmentation needed", an IPv6 packet (never fragmented on the way)
// ICMPv6 "packet too big", each carrying the MTU left for the inner packet,
// so the client's path-MTU discovery shrinks its segments. The answer comes
// from the VIP (the address the client sent to) and is built in place
// (icmpanswer.go). An IPv4 packet without DF is dropped, not fragmented:
// the director sends one frame per frame received.

// minIPv6MTU is the least MTU an IPv6 link has (RFC 8200 section 5): a
// packet-too-big message never advertises less.
const minIPv6MTU = 1280

// answerFragmentationNeeded turns the frame into a fragmentation-needed or
// packet-too-big message to c's client advertising mtu, and transmits it. It
// reports false when the packet does not qualify (IPv4 without DF, no room),
// leaving the frame untouched; the caller then just drops it.
func (w *Worker) answerFragmentationNeeded(c *conntrack.Conn, pkt *packet, mtu int) (verdict, bool) {
	p := &pkt.hdr
	if p.Proto == header.ProtocolICMPv4 || p.Proto == header.ProtocolICMPv6 {
		return verdict{}, false // never an ICMP error about an ICMP message fastlvs passes on
	}
	var built bool
	if p.IsIPv6 {
		built = buildICMPError(pkt, header.ICMPv6PacketTooBig, 0, uint32(max(mtu, minIPv6MTU)), &c.Virtual)
	} else if p.IPv4().DontFragment() {
		built = buildICMPError(pkt, header.ICMPv4DestinationUnreachable, header.ICMPv4CodeFragmentationNeeded, uint32(mtu), &c.Virtual)
	}
	if !built {
		return verdict{}, false
	}
	return w.transmitTo(&c.Client, pkt), true
}

// fitsEgress checks a NAT or FULLNAT packet for the real server against the
// egress port's MTU (their rewrites add nothing, but the real servers' port
// may carry less than the clients'): one too large is answered like a
// tunnel packet, from the VIP with the port's MTU, and goes no further.
// Replies are not checked: the real server's path-MTU discovery is told by
// the routers beyond the director.
func (w *Worker) fitsEgress(pkt *packet, c *conntrack.Conn, dir conntrack.Dir) (verdict, bool) {
	if dir != conntrack.DirIn {
		return verdict{}, true
	}
	p := &pkt.hdr
	path, _ := w.pathToReal(c)
	if path == nil || p.L4Off-p.L3Off+p.L4Len <= path.mtu {
		return verdict{}, true // an unknown path drops later, counted there
	}
	dropped := w.drop(DropEgressTooLarge)
	if v, ok := w.answerFragmentationNeeded(c, pkt, path.mtu); ok {
		w.count(CountFragNeededSent)
		return v, false
	}
	return dropped, false
}
