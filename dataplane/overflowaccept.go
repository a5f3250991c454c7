package dataplane

import (
	"net/netip"

	"fastlvs/header"
	"fastlvs/tunnel"
)

// The receiving side of site overflow (overflow.go): another site's
// director sends the connections it sheds inside IPIP or GUE to this
// director. The steering program hands such a packet to a worker when its
// inner destination is one of our services (dataplane/steer); the worker
// checks that the outer source is a configured peer (anyone else could wrap
// a packet with a forged client address in a tunnel header), takes the
// outer headers off in place and processes the client's packet as if it
// had arrived directly: its own connection, its own scheduler and
// forwarding method. Replies go to the client directly, never back through
// the tunnel.

// OverflowAcceptSpec names who may shed connections to this director.
type OverflowAcceptSpec struct {
	// From lists the other sites' directors: the outer sources accepted.
	From []netip.Addr
	// GUEPort is the UDP port GUE arrives on; 0 accepts IPIP only.
	GUEPort uint16
}

// buildOverflowAccept indexes the accepted peers. Build calls it.
func (t *Table) buildOverflowAccept() {
	if len(t.Spec.OverflowAccept.From) == 0 {
		return
	}
	t.overflowPeers = make(map[[16]byte]struct{}, len(t.Spec.OverflowAccept.From))
	for _, a := range t.Spec.OverflowAccept.From {
		t.overflowPeers[a.Unmap().As16()] = struct{}{}
	}
}

// isOverflowTunnel says whether a parsed packet is a tunnel packet this
// director opens: IPIP or IPv6-in-IP, or UDP to the GUE port.
func (t *Table) isOverflowTunnel(res header.ParseResult, p *header.Packet) bool {
	if t.overflowPeers == nil {
		return false
	}
	switch {
	case res == header.ParseUnsupportedL4:
		return p.Proto == header.ProtocolIPIP || p.Proto == header.ProtocolIPv6
	case res == header.ParseOK && p.Proto == header.ProtocolUDP:
		port := t.Spec.OverflowAccept.GUEPort
		return port != 0 && p.DstPort == port
	}
	return false
}

// openOverflowTunnel takes the outer headers off a peer's tunnel packet and
// parses the client's packet inside, or says why it drops.
func (w *Worker) openOverflowTunnel(pkt *packet) (header.ParseResult, Drop) {
	p := &pkt.hdr
	if _, ok := w.table.overflowPeers[p.Src]; !ok {
		return 0, DropOverflowPeerRefused
	}
	payload := p.Frame[p.L4Off : p.L4Off+p.L4Len]
	innerOff, inner6, ok := tunnel.Inner(payload, p.Proto, p.Proto == header.ProtocolUDP)
	if !ok {
		return 0, DropOverflowBadTunnel
	}
	outerLen := p.L4Off - p.L3Off + innerOff
	pkt.setFrame(tunnel.Decapsulate(pkt.buf, pkt.off, pkt.size, p.L3Off, outerLen, inner6))
	res := p.Parse(pkt.frame())
	if res == header.ParseOK && !w.table.isVIP(&p.Dst) {
		return 0, DropOverflowNotVIP
	}
	w.count(CountOverflowReceived)
	return res, 0
}
