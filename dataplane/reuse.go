package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
)

// A new connection that reuses the tuple of an old one (a client that
// recycles its source ports quickly, a retransmitted SYN whose server has
// died) is scheduled afresh rather than fed to the old connection's real
// server, as IPVS's conn_reuse_mode and expire_nodest_conn do:
//
//   - TCP: a SYN (no ACK) on a connection that is closing or closed
//     (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE), or whose real
//     server is out of rotation (taken out by its health check, removed, or
//     weight 0). An established connection to a live server keeps its SYNs.
//   - UDP: any packet of a flow whose real server has left the table and is
//     not draining: a datagram is always a fresh start.
//
// Established TCP connections to a server that left rotation are not cut
// here: they live on unless options.expire_nodest_conn is set or the server
// was removed with a drain_timeout that has passed (track).

// startsAfresh says whether the client's packet p, which found connection
// c, must end it and open a new one.
func (w *Worker) startsAfresh(c *conntrack.Conn, p *header.Packet) bool {
	switch c.Proto {
	case header.ProtocolTCP:
		const synMask = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst
		if p.TCPFlags&synMask != header.TCPFlagSyn {
			return false
		}
		return c.State.Closing() || !w.table.inRotation(c.RealID)
	case header.ProtocolUDP:
		return w.table.real(c.RealID) == nil && !w.table.draining(c.RealID, w.now)
	}
	return false
}

// inRotation says whether real server id takes new connections.
func (t *Table) inRotation(id uint32) bool {
	r := t.real(id)
	return r != nil && r.Spec.Weight > 0
}

// draining says whether real server id was removed with a drain deadline
// still ahead.
func (t *Table) draining(id uint32, now int64) bool {
	until, ok := t.drainUntil[id]
	return ok && now < until
}
