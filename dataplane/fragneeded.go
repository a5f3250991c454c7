package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
)

// Every packet fastlvs forwards must fit the MTU of the port it leaves by,
// in every method and both directions: the real servers' port may carry
// less than the clients' (NAT, FULLNAT, DR requests), the clients' less
// than the real servers' (NAT, FULLNAT replies), and a method may add bytes
// (a tunnel's outer header, FULLNAT's TOA option or PROXY header). The check
// runs before any rewrite, where the packet is still the one its sender
// sent, and it is one comparison for the common packet: only one larger
// than the smallest port MTU looks up its egress port.
//
// A packet too big is answered as a router (and IPVS) answers it: an IPv4
// packet sent with DF gets ICMP "fragmentation needed", an IPv6 packet
// (never fragmented on the way) ICMPv6 "packet too big", each advertising
// the egress MTU less what the method adds, so the sender's path-MTU
// discovery shrinks its packets. The answer goes to the sender (a client,
// or for a reply the real server) and quotes its own packet, from the
// address that packet was sent to (icmpSource). An IPv4 packet without DF
// goes on instead, and leave (egress.go) sends it as two fragments.

// minIPv6MTU is the least MTU an IPv6 link has (RFC 8200 section 5): a
// packet-too-big message never advertises less.
const minIPv6MTU = 1280

// answerFragmentationNeeded turns the frame, a packet of c going in
// direction dir, into a fragmentation-needed or packet-too-big message to
// its sender advertising mtu, and transmits it. It reports false when the
// packet does not qualify (IPv4 without DF, an ICMP message, an IPv4
// non-first fragment, no room, the ICMP budget spent), leaving the frame
// untouched; the caller then just drops it.
func (w *Worker) answerFragmentationNeeded(c *conntrack.Conn, pkt *packet, dir conntrack.Dir, mtu int) (verdict, bool) {
	p := &pkt.hdr
	if p.Proto == header.ProtocolICMPv4 || p.Proto == header.ProtocolICMPv6 || !mayAnswer(p) {
		return verdict{}, false // never an ICMP error about an ICMP message fastlvs passes on
	}
	if !p.IsIPv6 && !p.IPv4().DontFragment() {
		return verdict{}, false
	}
	if !w.icmpBudget.take(w.now) {
		return verdict{}, false
	}
	to, from := p.Src, icmpSource(c, dir)
	var built bool
	if p.IsIPv6 {
		built = buildICMPError(pkt, header.ICMPv6PacketTooBig, 0, uint32(max(mtu, minIPv6MTU)), from)
	} else {
		built = buildICMPError(pkt, header.ICMPv4DestinationUnreachable, header.ICMPv4CodeFragmentationNeeded, uint32(mtu), from)
	}
	if !built {
		return verdict{}, false
	}
	return w.transmitTo(&to, pkt), true
}

// refuseTooBig drops a packet of c that its egress cannot carry, counted
// under reason, and answers its sender with room, the MTU left for it,
// when it qualifies.
func (w *Worker) refuseTooBig(pkt *packet, c *conntrack.Conn, dir conntrack.Dir, room int, reason Drop) verdict {
	dropped := w.drop(reason) // the packet itself goes no further
	if v, ok := w.answerFragmentationNeeded(c, pkt, dir, room); ok {
		w.count(CountFragNeededSent)
		return v
	}
	return dropped
}

// fitsEgress checks a DR, NAT or FULLNAT packet of c going in direction dir,
// before its rewrite, against the egress port's MTU less what its method
// will add (tunnels check their own, in forwardTunnel). A packet too big
// with DF, or IPv6, is refused and answered; ok is false then, v says what
// became of it. An IPv4 packet without DF passes: leave fragments it.
func (w *Worker) fitsEgress(pkt *packet, c *conntrack.Conn, dir conntrack.Dir) (v verdict, ok bool) {
	p := &pkt.hdr
	if p.L4Off-p.L3Off+p.L4Len <= w.smallestMTU && c.Flags&connClientAddrState == 0 {
		return verdict{}, true // nearly every packet: it fits any port and will not grow
	}
	return w.checkEgress(pkt, c, dir)
}

// checkEgress is fitsEgress for a packet that may not fit.
func (w *Worker) checkEgress(pkt *packet, c *conntrack.Conn, dir conntrack.Dir) (v verdict, ok bool) {
	p := &pkt.hdr
	size := p.L4Off - p.L3Off + p.L4Len
	grow := 0
	if dir == conntrack.DirIn {
		grow = clientAddrGrowth(c, p)
	}
	if size+grow <= w.smallestMTU {
		return verdict{}, true
	}
	mtu := w.egressMTU(c, dir)
	if mtu == 0 || size+grow <= mtu || !p.IsIPv6 && !p.IPv4().DontFragment() {
		return verdict{}, true // an unknown path drops later, counted there
	}
	return w.refuseTooBig(pkt, c, dir, mtu-grow, DropEgressTooLarge), false
}

// egressMTU is the MTU of the port c's packets in direction dir leave by,
// 0 when no route is known.
func (w *Worker) egressMTU(c *conntrack.Conn, dir conntrack.Dir) int {
	if dir == conntrack.DirIn {
		if path, _ := w.pathToReal(c); path != nil {
			return path.mtu
		}
		return 0
	}
	if port, ok := w.hop.PortOf(c.Client); ok {
		return w.hop.MTU(port)
	}
	return 0
}

// icmpSource is the address an error about a packet of c in direction dir
// comes from: the one its sender sent it to (the VIP, a FULLNAT reply's
// local address), as IPVS's errors do. A NAT reply was sent to the client,
// whose address the director does not speak for: the VIP stands in.
func icmpSource(c *conntrack.Conn, dir conntrack.Dir) *[16]byte {
	if Method(c.Forward) == MethodFullNAT && dir != conntrack.DirIn {
		return &c.Local
	}
	return &c.Virtual
}

// mayAnswer says whether the director may send an ICMP error about p: not
// about an IPv4 fragment other than the first (RFC 1812 section 4.3.2.7;
// Linux's icmp_send refuses them alike), whose quote names no flow. IPv6
// routers may (RFC 4443 section 2.4 (e) lists no such rule), and Linux's
// do.
func mayAnswer(p *header.Packet) bool {
	return p.IsIPv6 || p.IPv4().FragmentOffset() == 0
}
