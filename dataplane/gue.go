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

// guePortOf is the GUE port of c's service, 0 for IPIP.
func (w *Worker) guePortOf(c *conntrack.Conn) uint16 {
	r := w.table.real(c.RealID)
	switch {
	case r == nil:
	case r.overflow:
		if o := &r.Service.Spec.Overflow; o.GUE {
			return o.GUEPort
		}
	case r.Service.Spec.GUE:
		return r.Service.Spec.GUEPort
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
