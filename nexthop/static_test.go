package nexthop

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

func TestStaticSnapshotLookup(t *testing.T) {
	port0 := header.MAC{2, 0, 0, 0, 0, 1}
	port1 := header.MAC{2, 0, 0, 0, 0, 2}
	real := header.MAC{2, 0, 0, 0, 2, 2}
	router := header.MAC{2, 0, 0, 0, 9, 9}
	s := NewStaticSnapshot([]header.MAC{port0, port1},
		[]StaticRoute{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.18.1.254"), Port: 0},
			{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 1},
			{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 0},
		},
		map[netip.Addr]StaticNeighbor{
			netip.MustParseAddr("198.18.2.2"):   {MAC: real, Port: 1},
			netip.MustParseAddr("198.18.1.254"): {MAC: router, Port: 0},
		})
	a16 := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	tests := []struct {
		name string
		dst  string
		hop  Hop
		want string // "" = none
		ok   bool
	}{
		{"on-link neighbour", "198.18.2.2", Hop{Port: 1, DstMAC: real, SrcMAC: port1, OnLink: true}, "198.18.2.2", true},
		{"default route via gateway", "203.0.113.7", Hop{Port: 0, DstMAC: router, SrcMAC: port0}, "198.18.1.254", true},
		{"unresolved on-link", "198.18.2.3", Hop{}, "198.18.2.3", false},
		{"unresolved on the other /24", "198.18.1.9", Hop{}, "198.18.1.9", false},
		{"no v6 route", "2001:2::1", Hop{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hop, want, ok := s.Lookup(a16(tt.dst))
			if ok != tt.ok || hop != tt.hop {
				t.Fatalf("Lookup(%s) = %+v, %v; want %+v, %v", tt.dst, hop, ok, tt.hop, tt.ok)
			}
			var wantAddr [16]byte
			if tt.want != "" {
				wantAddr = a16(tt.want)
			}
			if want != wantAddr {
				t.Fatalf("Lookup(%s) want = %v; want %v", tt.dst, netip.AddrFrom16(want), tt.want)
			}
			// The fast path answers exactly the resolved hops via a gateway.
			dst := a16(tt.dst)
			gw := s.GatewayHop(&dst)
			if viaGateway := tt.ok && !tt.hop.OnLink; (gw != nil) != viaGateway || gw != nil && *gw != tt.hop {
				t.Fatalf("GatewayHop(%s) = %+v; want %+v (via a gateway: %v)", tt.dst, gw, tt.hop, viaGateway)
			}
		})
	}
	if s.PortMAC(1) != port1 {
		t.Fatalf("PortMAC(1) = %v", s.PortMAC(1))
	}
}
