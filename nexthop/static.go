package nexthop

import (
	"net/netip"
	"sort"

	"fastlvs/header"
)

// StaticRoute is one route of a snapshot built by hand: traffic to Prefix
// leaves by port Port, through Gateway when it is valid, else on-link.
type StaticRoute struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
	Port    int
}

// StaticNeighbor is a resolved neighbour of a snapshot built by hand.
type StaticNeighbor struct {
	MAC  header.MAC
	Port int
}

// NewStaticSnapshot builds a frozen snapshot without the kernel, for tests
// and benchmarks of the dataplane: portMACs[i] is port i's own MAC; routes
// are ordered longest prefix first as the resolver orders the kernel's.
func NewStaticSnapshot(portMACs []header.MAC, routes []StaticRoute, neighbors map[netip.Addr]StaticNeighbor) *Snapshot {
	s := &Snapshot{
		portMACs:  append([]header.MAC(nil), portMACs...),
		links:     socketLinks(len(portMACs)),
		neighbors: make(map[[16]byte]neighbor, len(neighbors)),
	}
	for _, r := range routes {
		out := newRoute(r.Prefix, r.Port)
		if r.Gateway.IsValid() {
			out.gateway, out.hasGW = r.Gateway.Unmap().As16(), true
		}
		s.routes = append(s.routes, out)
	}
	sort.SliceStable(s.routes, func(i, j int) bool { return s.routes[i].prefix.Bits() > s.routes[j].prefix.Bits() })
	for a, n := range neighbors {
		s.neighbors[a.Unmap().As16()] = neighbor{mac: n.MAC, port: n.Port}
	}
	s.resolveGateways()
	return s
}
