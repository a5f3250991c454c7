package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/dr"
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
// into the headroom before w.frameOff, and w.txOff, w.txLen say what to
// send.
func (w *Worker) forwardTunnel(c *conntrack.Conn, frame []byte) (action, int) {
	path, drop := w.pathToReal(c)
	if path == nil {
		return w.drop(drop)
	}
	if !path.hasSrc {
		return w.drop(DropNoRoute) // the egress port holds no address of the real server's family
	}
	p := &w.pkt
	overhead := tunnel.Overhead(&c.Real)
	innerLen := p.L4Off - p.L3Off + p.L4Len
	if innerLen+overhead > path.mtu {
		w.tally.drops[DropEncapTooLarge]++ // the packet itself goes no further
		if act, port, ok := w.answerFragmentationNeeded(c, frame, path.mtu-overhead); ok {
			w.tally.fragNeededSent++
			return act, port
		}
		return actionDrop, 0
	}
	if w.frameOff < overhead || w.frameOff+len(frame) > len(w.chunk) {
		return w.drop(DropEncapTooLarge) // no headroom to grow into
	}
	dr.Forward(frame, path.hop.DstMAC, path.hop.SrcMAC)
	w.tunnel.id++
	w.txOff, w.txLen = tunnel.Encapsulate(w.chunk, w.frameOff, len(frame), p.L3Off, &path.src, &c.Real, w.tunnel.id)
	return actionTransmit, path.hop.Port
}
