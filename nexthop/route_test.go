package nexthop

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

// TestLookupMatchesPrefixes checks the masked-word match against netip's
// Prefix.Contains over both families, and that families never mix.
func TestLookupMatchesPrefixes(t *testing.T) {
	mac := header.MAC{2, 0, 0, 0, 0, 1}
	s := NewStaticSnapshot([]header.MAC{mac, mac}, []StaticRoute{
		{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Gateway: netip.MustParseAddr("198.18.1.254"), Port: 0},
		{Prefix: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("2001:2::1"), Port: 1},
		{Prefix: netip.MustParsePrefix("2001:2:2::/48"), Port: 0},
	}, map[netip.Addr]StaticNeighbor{
		netip.MustParseAddr("198.18.2.7"):   {MAC: mac, Port: 1},
		netip.MustParseAddr("198.18.1.254"): {MAC: mac, Port: 0},
		netip.MustParseAddr("2001:2::1"):    {MAC: mac, Port: 1},
		netip.MustParseAddr("2001:2:2::9"):  {MAC: mac, Port: 0},
	})
	for _, c := range []struct {
		dst  string
		port int
		ok   bool
	}{
		{"198.18.2.7", 1, true},   // on-link /24
		{"198.19.5.5", 0, true},   // via the /15's gateway
		{"198.18.2.8", 0, false},  // on-link but unresolved
		{"203.0.113.1", 0, false}, // no IPv4 default: the IPv6 one must not match
		{"2001:2:2::9", 0, true},  // on-link /48
		{"2001:db8::1", 1, true},  // IPv6 default
	} {
		hop, _, ok := s.Lookup(netip.MustParseAddr(c.dst).As16())
		if ok != c.ok || (ok && hop.Port != c.port) {
			t.Errorf("%s: port %d ok %v, want port %d ok %v", c.dst, hop.Port, ok, c.port, c.ok)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	mac := header.MAC{2, 0, 0, 0, 0, 1}
	s := NewStaticSnapshot([]header.MAC{mac}, []StaticRoute{
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 0},
		{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 0},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.18.1.254"), Port: 0},
	}, map[netip.Addr]StaticNeighbor{netip.MustParseAddr("198.18.2.7"): {MAC: mac}})
	dst := netip.MustParseAddr("198.18.2.7").As16()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.Lookup(dst); !ok {
			b.Fatal("miss")
		}
	}
}
