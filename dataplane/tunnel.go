package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/dr"
	"fastlvs/nexthop"
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
	// paths caches, by real-server id, where a tunnel to that real server
	// leaves for the next-hop snapshot it was looked up in: next hop, outer
	// source address and the port's MTU.
	paths []tunnelPath
}

type tunnelPath struct {
	snapshot *nexthop.Snapshot
	hop      nexthop.Hop
	src      [16]byte
	mtu      int
}

// forwardTunnel encapsulates a packet for its real server: the frame grows
// into the headroom before w.frameOff, and w.txOff, w.txLen say what to
// send.
func (w *Worker) forwardTunnel(c *conntrack.Conn, frame []byte) (action, int) {
	path, drop := w.tunnelPathTo(c)
	if path == nil {
		return w.drop(drop)
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

// tunnelPathTo returns the cached path to c's real server, looking it up
// again once per next-hop snapshot. A nil path comes with the drop reason
// (and, for an unresolved neighbour, a resolution request).
func (w *Worker) tunnelPathTo(c *conntrack.Conn) (*tunnelPath, Drop) {
	id := int(c.RealID)
	if id >= len(w.tunnel.paths) {
		// Ids only grow: this allocates once per new real server, not per
		// packet.
		w.tunnel.paths = append(w.tunnel.paths, make([]tunnelPath, id+1-len(w.tunnel.paths))...)
	}
	path := &w.tunnel.paths[id]
	if path.snapshot == w.hop && path.snapshot != nil {
		return path, 0
	}
	hop, want, ok := w.hop.Lookup(c.Real)
	if !ok {
		if want == ([16]byte{}) {
			return nil, DropNoRoute
		}
		w.wants.Push(want) // a full queue only delays resolution
		return nil, DropNeighborUnresolved
	}
	src, ok := w.hop.Source(c.Real)
	if !ok {
		return nil, DropNoRoute // the egress port holds no address of the real server's family
	}
	*path = tunnelPath{snapshot: w.hop, hop: hop, src: src, mtu: w.hop.MTU(hop.Port)}
	return path, 0
}
