package nexthop

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

func sourceSnapshot() *Snapshot {
	s := NewStaticSnapshot([]header.MAC{{2}, {3}},
		[]StaticRoute{
			{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 0},
			{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 1},
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.18.3.254"), Port: 1},
			{Prefix: netip.MustParsePrefix("2001:2:2::/64"), Port: 1},
			{Prefix: netip.MustParsePrefix("2001:2:9::/64"), Port: 0},
		}, nil)
	return s.WithPortAddresses([][]netip.Prefix{
		{netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("198.18.1.1/24"), netip.MustParsePrefix("fe80::1/64")},
		{netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("198.18.2.1/24"), netip.MustParsePrefix("198.18.3.1/24"),
			netip.MustParsePrefix("fe80::2/64"), netip.MustParsePrefix("2001:2:2::1/64")},
	}, []int{9000, 0})
}

func TestSourcePicksTheAddressOfTheRoutesSubnet(t *testing.T) {
	s := sourceSnapshot()
	for _, c := range []struct{ dst, want string }{
		{"198.18.1.7", "198.18.1.1"},   // on-link, port 0: not the VIP /32
		{"198.18.2.12", "198.18.2.1"},  // on-link, port 1
		{"198.19.5.9", "198.18.3.1"},   // via a gateway: the gateway's subnet
		{"2001:2:2::2", "2001:2:2::1"}, // IPv6 on-link
		{"2001:2:9::2", ""},            // port 0 has only a link-local IPv6 address
		{"198.19.0.1", "198.18.3.1"},   // default route
	} {
		src, ok := s.Source(netip.MustParseAddr(c.dst).As16())
		if c.want == "" {
			if ok {
				t.Errorf("%s: source %v, want none", c.dst, netip.AddrFrom16(src).Unmap())
			}
			continue
		}
		if want := netip.MustParseAddr(c.want).As16(); !ok || src != want {
			t.Errorf("%s: source %v (%v), want %s", c.dst, netip.AddrFrom16(src).Unmap(), ok, c.want)
		}
	}
}

func TestSourceFallsBackToAPortAddress(t *testing.T) {
	s := NewStaticSnapshot([]header.MAC{{2}},
		[]StaticRoute{{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 0}}, nil).
		WithPortAddresses([][]netip.Prefix{{netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("198.18.9.1/24")}}, nil)
	src, ok := s.Source(netip.MustParseAddr("198.18.2.5").As16())
	if want := netip.MustParseAddr("198.18.9.1").As16(); !ok || src != want {
		t.Fatalf("source %v (%v), want the port's subnet address over its /32", netip.AddrFrom16(src).Unmap(), ok)
	}
}

func TestSourceWithoutAddressesOrRoute(t *testing.T) {
	plain := NewStaticSnapshot([]header.MAC{{2}}, []StaticRoute{{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 0}}, nil)
	if _, ok := plain.Source(netip.MustParseAddr("198.18.2.5").As16()); ok {
		t.Error("a snapshot without port addresses gave a source")
	}
	if _, ok := sourceSnapshot().Source(netip.MustParseAddr("2001:3::1").As16()); ok {
		t.Error("an unrouted destination got a source")
	}
}

func TestMTU(t *testing.T) {
	s := sourceSnapshot()
	if s.MTU(0) != 9000 || s.MTU(1) != DefaultMTU || s.MTU(7) != DefaultMTU {
		t.Fatalf("MTUs %d %d %d, want 9000 %d %d", s.MTU(0), s.MTU(1), s.MTU(7), DefaultMTU, DefaultMTU)
	}
}

func TestSourceAllocatesNothing(t *testing.T) {
	s := sourceSnapshot()
	dst := netip.MustParseAddr("198.18.2.12").As16()
	if n := testing.AllocsPerRun(1000, func() { s.Source(dst) }); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}
