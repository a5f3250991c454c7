package dataplane

import (
	"encoding/binary"

	"fastlvs/conntrack"
	"fastlvs/tunnel"
)

// A tun service with GUE (tunnel/gue.go) sends its packets inside UDP to
// the real servers' GUE port. The UDP source port is a keyed hash of the
// client's flow (address, port, VIP port), so each flow keeps one port and
// the flows spread over the real server's receive queues.

// guePortOf is the GUE port of c's real server (a service's, or an
// overflow target's), 0 for IPIP; it outlives the server's removal.
func (w *Worker) guePortOf(c *conntrack.Conn) uint16 {
	if rs := w.table.realState(c.RealID); rs != nil {
		return uint16(rs.guePort.Load())
	}
	return 0
}

// guePortOfSpec is the GUE port a spec asks for, 0 for IPIP.
func guePortOfSpec(gue bool, port uint16) uint16 {
	if gue {
		return port
	}
	return 0
}

// gueSourcePort is the outer UDP source port of c's packets.
func (w *Worker) gueSourcePort(c *conntrack.Conn) uint16 {
	a := c.Client
	ports := uint32(c.ClientPort)<<16 | uint32(c.VirtualPort)
	binary.LittleEndian.PutUint32(a[0:4], binary.LittleEndian.Uint32(a[0:4])^ports)
	return tunnel.GUESourcePort(w.table.owners.hash.Addr(a))
}
