// Package nexthop answers, for the dataplane, "which port and which MAC does a
// packet to this address leave by?" from the kernel's own routes and
// neighbours (read over netlink, never from the config).
//
// The control plane's Resolver keeps an immutable Snapshot and replaces it
// with one atomic store whenever the kernel's routes or neighbours change.
// Workers load the snapshot once per batch. A lookup that misses (no
// neighbour entry yet) never blocks: the worker drops the packet, counts it
// and posts the address to Resolver.Want, and the resolver makes the kernel
// resolve it.
package nexthop

import (
	"encoding/binary"
	"net/netip"

	"fastlvs/header"
)

// Hop is where a packet goes on the wire.
type Hop struct {
	Port   int        // index of the dataplane port (interface) to send on
	DstMAC header.MAC // next hop's MAC
	SrcMAC header.MAC // the port's own MAC
	OnLink bool       // the destination itself, not a gateway towards it
}

// route is one kernel route restricted to the dataplane's ports. The
// prefix is also kept as two masked 64-bit words of the 16-byte address, so
// Lookup matches with two ANDs instead of netip conversions.
type route struct {
	prefix   netip.Prefix
	net      [2]uint64
	mask     [2]uint64
	gateway  [16]byte
	hasGW    bool
	is4      bool
	port     int
	priority int
	// gatewayHop is the hop to the gateway when gatewayKnown (its
	// neighbour entry is on the route's port), found once as the snapshot
	// is built (see resolveGateways).
	gatewayHop   Hop
	gatewayKnown bool
}

// newRoute prepares a route for Lookup; an IPv4 prefix covers the v4-mapped
// block only, so an IPv6 default route never matches an IPv4 address.
func newRoute(prefix netip.Prefix, port int) route {
	prefix = prefix.Masked()
	bits := prefix.Bits()
	if prefix.Addr().Is4() {
		bits += 96
	}
	var mask [16]byte
	for i := range mask {
		switch {
		case bits >= 8:
			mask[i], bits = 0xff, bits-8
		case bits > 0:
			mask[i], bits = ^byte(0xff>>bits), 0
		}
	}
	a := prefix.Addr().As16()
	r := route{prefix: prefix, port: port, is4: prefix.Addr().Is4()}
	r.mask = [2]uint64{binary.BigEndian.Uint64(mask[:8]), binary.BigEndian.Uint64(mask[8:])}
	r.net = [2]uint64{binary.BigEndian.Uint64(a[:8]) & r.mask[0], binary.BigEndian.Uint64(a[8:]) & r.mask[1]}
	return r
}

// Snapshot is a frozen view of routes and neighbours. Lookup allocates
// nothing and takes no lock.
type Snapshot struct {
	routes    []route // longest prefix first
	neighbors map[[16]byte]neighbor
	portMACs  []header.MAC
	links     []portLink // by port: socket and tag (vlan.go)
	sources   sources    // source addresses and MTUs, see source.go
}

type neighbor struct {
	mac  header.MAC
	port int
}

// Lookup returns the hop for dst. ok is false when no route leaves by one of
// our ports (unreachable) or when the next hop's MAC is not known yet; in the
// latter case want is the address to resolve.
func (s *Snapshot) Lookup(dst [16]byte) (hop Hop, want [16]byte, ok bool) {
	if s == nil {
		return Hop{}, dst, false
	}
	r := s.routeTo(&dst)
	if r == nil {
		return Hop{}, [16]byte{}, false
	}
	if r.hasGW {
		return r.gatewayHop, r.gateway, r.gatewayKnown
	}
	n, found := s.neighbors[dst]
	if !found || n.port != r.port {
		return Hop{}, dst, false
	}
	return Hop{Port: r.port, DstMAC: n.mac, SrcMAC: s.portMACs[r.port], OnLink: true}, dst, true
}

// resolveGateways looks every route's gateway up in the neighbours once, as
// the snapshot is built, so a packet to a client behind a router (every NAT
// reply, most of a director's traffic) costs Lookup no map access.
func (s *Snapshot) resolveGateways() {
	for i := range s.routes {
		r := &s.routes[i]
		if n, ok := s.neighbors[r.gateway]; r.hasGW && ok && n.port == r.port {
			r.gatewayHop = Hop{Port: r.port, DstMAC: n.mac, SrcMAC: s.portMACs[r.port]}
			r.gatewayKnown = true
		}
	}
}

// GatewayHop is Lookup's fast path for a destination behind a resolved
// gateway (a client behind a router): the hop as the snapshot holds it, or
// nil, and then Lookup has the answer. A pointer, because copying Lookup's
// freshly built results back costs the packet path more than the lookup.
func (s *Snapshot) GatewayHop(dst *[16]byte) *Hop {
	if s == nil {
		return nil
	}
	if r := s.routeTo(dst); r != nil && r.gatewayKnown {
		return &r.gatewayHop
	}
	return nil
}

// routeTo is the first route covering dst, or nil.
func (s *Snapshot) routeTo(dst *[16]byte) *route {
	hi, lo := binary.BigEndian.Uint64(dst[:8]), binary.BigEndian.Uint64(dst[8:])
	is4 := hi == 0 && lo>>32 == 0xffff
	for i := range s.routes {
		r := &s.routes[i]
		if r.is4 == is4 && hi&r.mask[0] == r.net[0] && lo&r.mask[1] == r.net[1] {
			return r
		}
	}
	return nil
}

// PortOf is the port the route to dst leaves by, whether or not its next
// hop is resolved; false when no route of the dataplane's ports covers it.
func (s *Snapshot) PortOf(dst [16]byte) (int, bool) {
	if s == nil {
		return 0, false
	}
	if r := s.routeTo(&dst); r != nil {
		return r.port, true
	}
	return 0, false
}

// PortMAC is the MAC address of a dataplane port.
func (s *Snapshot) PortMAC(port int) header.MAC { return s.portMACs[port] }
