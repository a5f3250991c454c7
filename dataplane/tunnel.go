package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/tunnel"
)

// Tunnel (IPVS -i): the client's packet, untouched and still addressed to
// the VIP, travels to its real server inside an outer IP header from the
// director's address on the egress port to the real server's address (IPIP
// or IPv6-in-IP, by the two families). The real server takes the outer
// header off (its kernel's tunnel device, or fastlvs-decap) and answers the
// client directly. Only the client's direction passes the director.

// tunnelState is a worker's own tunnel bookkeeping.
type tunnelState struct {
	// id numbers the outer IPv4 headers this worker sends.
	id uint16
}

// forwardTunnel encapsulates a packet for its real server: the frame grows
// into its headroom.
func (w *Worker) forwardTunnel(c *conntrack.Conn, pkt *packet) verdict {
	path, drop := w.pathToReal(c)
	if path == nil {
		return w.drop(drop)
	}
	if !path.hasSrc {
		return w.drop(DropNoRoute) // the egress port holds no address of the real server's family
	}
	p := &pkt.hdr
	overhead, guePort := tunnel.Overhead(&c.Real), w.guePortOf(c)
	if guePort != 0 {
		overhead = tunnel.GUEOverhead(&c.Real)
	}
	innerLen := p.L4Off - p.L3Off + p.L4Len
	if innerLen+overhead > path.mtu {
		if v, ok := w.fragmentForTunnel(c, pkt, path, path.mtu-overhead); ok { // tunnelsplit.go
			return v
		}
		return w.refuseTooBig(pkt, c, conntrack.DirIn, path.mtu-overhead, DropEncapTooLarge) // fragneeded.go
	}
	if pkt.headroom() < overhead {
		return w.drop(DropEncapTooLarge) // no headroom to grow into
	}
	header.Ethernet(pkt.frame()).Readdress(path.hop.DstMAC, path.hop.SrcMAC)
	w.tunnel.id++
	if guePort != 0 {
		pkt.setFrame(tunnel.EncapsulateGUE(pkt.buf, pkt.off, pkt.size, p.L3Off, &path.src, &c.Real, w.tunnel.id,
			w.gueSourcePort(c), guePort))
		return transmitOn(path.hop.Port)
	}
	pkt.setFrame(tunnel.Encapsulate(pkt.buf, pkt.off, pkt.size, p.L3Off, &path.src, &c.Real, w.tunnel.id))
	return transmitOn(path.hop.Port)
}
