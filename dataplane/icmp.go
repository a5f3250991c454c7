package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/nat"
)

// ICMP the steering program hands to the workers (steer.c, rules 4 and 5):
// echo requests to a VIP, answered here (icmpanswer.go), and errors whose
// quoted packet is one the director sent for a connection, translated as
// IPVS's ip_vs_in_icmp / ip_vs_out_icmp do and sent on to the endpoint the
// connection's packets would reach.
//
// The quoted packet, reversed, is the tuple of a packet arriving at the
// director in the error's own direction; the connection table finds it, and
// its direction says which side the error came from. C client, V VIP,
// R real server, L FULLNAT local address (ports after the colon):
//
//	method   dir  error from   quote (director sent)  quote becomes  outer src→dst   sent to
//	NAT      in   client side  V:v → C:c              R:r → C:c      kept → R        real server
//	NAT      out  real side    C:c → R:r              C:c → V:v      V → C (kept)    client
//	FULLNAT  in   client side  V:v → C:c              R:r → L:l      L → R           real server
//	FULLNAT  out  real side    L:l → R:r              C:c → V:v      V → C           client
//	DR       in   client side  V:v → C:c (the real's) unchanged      unchanged       real server (MAC)
//	TUN      in   client side  V:v → C:c (the real's) unchanged      unchanged       real server (encapsulated)
//
// DR and TUN have no "out" tuple: real servers answer clients directly, and
// an error about the director's encapsulated or MAC-forwarded packet quotes
// what the real server cannot use. The owner worker is the one the reversed
// quote names, as for any packet (owner.go): for "in" the client is the
// quote's destination, for a FULLNAT "out" the local port, for a NAT "out"
// the real server's reply candidates. The advertised MTU of a
// fragmentation-needed or packet-too-big message stays as it is: NAT and
// FULLNAT add no bytes, and DR and TUN pass the error to the real server,
// whose own packet it was.

// processICMP handles an ICMP or ICMPv6 message addressed through the
// director.
func (w *Worker) processICMP(pkt *packet) verdict {
	p := &pkt.hdr
	msg := p.L4()
	switch {
	case isEchoRequest(msg[0], p.IsIPv6):
		return w.answerEcho(pkt)
	case !isTranslatedError(msg[0], p.IsIPv6):
		return w.drop(DropICMPUnhandled)
	}
	q, ok := nat.ParseQuote(msg, p.IsIPv6)
	if !ok {
		return w.drop(DropICMPBadQuote)
	}
	rev := header.Packet{Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort, Proto: q.Proto, IsIPv6: q.IsIPv6}
	if w.workers > 1 {
		svc := w.table.lookupService(&rev.Dst, rev.DstPort, rev.Proto)
		if owner := w.ownerOfHeader(&rev, pkt.tries, svc); owner != w.ID {
			return w.handOffTo(owner, pkt)
		}
	}
	tuple := conntrack.Tuple{Src: rev.Src, Dst: rev.Dst, SrcPort: rev.SrcPort, DstPort: rev.DstPort, Proto: rev.Proto}
	ref, dir := w.conns.Lookup(&tuple)
	if ref == 0 {
		if owner, ok := w.nextReplyOwnerOf(&rev, &pkt.tries); ok {
			return w.handOffTo(owner, pkt)
		}
		return w.drop(DropICMPNoConn)
	}
	return w.translateICMPError(w.conns.Conn(ref), dir, &q, pkt)
}

// translateICMPError rewrites an error about connection c as the table at
// the top of this file says, and sends it on.
func (w *Worker) translateICMPError(c *conntrack.Conn, dir conntrack.Dir, q *nat.Quote, pkt *packet) verdict {
	p := &pkt.hdr
	m := Method(c.Forward)
	if (m == MethodNAT || m == MethodFullNAT) && header.Is4(&c.Real) == q.IsIPv6 {
		return w.drop(DropICMPNoConn) // a family the rewrite cannot cross
	}
	if dir != conntrack.DirIn && m != MethodNAT && m != MethodFullNAT {
		return w.drop(DropICMPNoConn)
	}
	w.count(CountICMPErrorsTranslated)
	switch {
	case m == MethodDR:
		return w.transmitToReal(c, pkt)
	case m == MethodTunnel:
		return w.forwardTunnel(c, pkt)
	case m == MethodNAT && dir == conntrack.DirIn:
		q.Rewrite(&c.Real, c.RealPort, &q.Dst, q.DstPort)
		nat.SetICMPAddresses(p, &p.Src, &c.Real)
		return w.transmitToReal(c, pkt)
	case m == MethodNAT:
		q.Rewrite(&q.Src, q.SrcPort, &c.Virtual, c.VirtualPort)
		nat.SetICMPAddresses(p, &c.Virtual, &p.Dst)
		return w.transmitTo(&c.Client, pkt)
	case m == MethodFullNAT && dir == conntrack.DirIn:
		q.Rewrite(&c.Real, c.RealPort, &c.Local, c.LocalPort)
		nat.SetICMPAddresses(p, &c.Local, &c.Real)
		return w.transmitToReal(c, pkt)
	case m == MethodFullNAT:
		q.Rewrite(&c.Client, c.ClientPort, &c.Virtual, c.VirtualPort)
		nat.SetICMPAddresses(p, &c.Virtual, &c.Client)
		return w.transmitTo(&c.Client, pkt)
	}
	return w.drop(DropUnsupportedMethod)
}

// isTranslatedError says whether an ICMP type is an error the director
// relates to a connection: destination unreachable (fragmentation needed
// among its codes), packet too big, time exceeded.
func isTranslatedError(typ uint8, v6 bool) bool {
	if v6 {
		return typ == header.ICMPv6DestinationUnreachable || typ == header.ICMPv6PacketTooBig || typ == header.ICMPv6TimeExceeded
	}
	return typ == header.ICMPv4DestinationUnreachable || typ == header.ICMPv4TimeExceeded
}

func isEchoRequest(typ uint8, v6 bool) bool {
	if v6 {
		return typ == header.ICMPv6EchoRequest
	}
	return typ == header.ICMPv4EchoRequest
}

// buildVIPs collects every service address, for isVIP. Build calls it.
func (t *Table) buildVIPs() {
	t.vips = make(map[[16]byte]struct{}, len(t.services))
	for i := range t.services {
		t.vips[t.services[i].Spec.VIP.Unmap().As16()] = struct{}{}
	}
}

// isVIP says whether a is a service address.
func (t *Table) isVIP(a *[16]byte) bool {
	_, ok := t.vips[*a]
	return ok
}
