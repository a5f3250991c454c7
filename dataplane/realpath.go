package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/nexthop"
)

// realPath is where packets to one real server leave, as found in one
// next-hop snapshot: the hop, the egress port's MTU and (for tunnels) its
// address of the real server's family. Workers cache one per real-server id
// and look it up again only when the snapshot changes, so the inbound
// direction of every method skips the route walk and the neighbour map.
type realPath struct {
	snapshot *nexthop.Snapshot
	hop      nexthop.Hop
	src      [16]byte
	hasSrc   bool
	mtu      int
}

// pathToReal returns the path to c's real server. A nil path comes with the
// drop reason; for an unresolved neighbour it has also asked for resolution.
func (w *Worker) pathToReal(c *conntrack.Conn) (*realPath, Drop) {
	cached := int(c.RealID) < len(w.realPaths)
	path := &w.scratchPath // an id beyond the cache: looked up every time
	if cached {
		path = &w.realPaths[c.RealID]
		if path.snapshot == w.hop && w.hop != nil {
			return path, 0
		}
	}
	hop, want, ok := w.hop.Lookup(c.Real)
	if !ok {
		if want == ([16]byte{}) {
			return nil, DropNoRoute
		}
		w.wants.Push(want) // a full queue only delays resolution
		return nil, DropNeighborUnresolved
	}
	src, hasSrc := w.hop.Source(c.Real)
	*path = realPath{hop: hop, src: src, hasSrc: hasSrc, mtu: w.hop.MTU(hop.Port)}
	if cached {
		path.snapshot = w.hop
	}
	return path, 0
}
