package nexthop

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

// TestVLANPorts: VLAN ports come after the socket ports, carry their
// parent's socket and tag, and are found by (socket, TPID, id) alone.
func TestVLANPorts(t *testing.T) {
	mac := header.MAC{2, 0, 0, 0, 0, 1}
	s := NewStaticSnapshot([]header.MAC{mac, mac}, []StaticRoute{
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 2},
	}, map[netip.Addr]StaticNeighbor{netip.MustParseAddr("198.18.1.5"): {MAC: mac, Port: 2}}).WithVLANPorts([]VLANPort{
		{Parent: 0, TPID: header.EtherTypeVLAN, ID: 100, MAC: mac},
		{Parent: 1, TPID: header.EtherTypeQinQ, ID: 100, MAC: mac},
	})
	for _, c := range []struct {
		port, socket int
		tpid, vlan   uint16
	}{{0, 0, 0, 0}, {1, 1, 0, 0}, {2, 0, header.EtherTypeVLAN, 100}, {3, 1, header.EtherTypeQinQ, 100}, {9, 9, 0, 0}} {
		if socket, tpid, vlan := s.Link(c.port); socket != c.socket || tpid != c.tpid || vlan != c.vlan {
			t.Errorf("port %d: socket %d tag %#x/%d, want %d %#x/%d", c.port, socket, tpid, vlan, c.socket, c.tpid, c.vlan)
		}
	}
	for _, c := range []struct {
		socket     int
		tpid, vlan uint16
		port       int
		ok         bool
	}{
		{0, header.EtherTypeVLAN, 100, 2, true},
		{1, header.EtherTypeQinQ, 100, 3, true},
		{1, header.EtherTypeVLAN, 100, 0, false}, // the other TPID
		{0, header.EtherTypeVLAN, 200, 0, false},
	} {
		if port, ok := s.PortOfTag(c.socket, c.tpid, c.vlan); port != c.port || ok != c.ok {
			t.Errorf("socket %d tag %#x/%d: port %d ok %v, want %d %v", c.socket, c.tpid, c.vlan, port, ok, c.port, c.ok)
		}
	}
	if hop, _, ok := s.Lookup(netip.MustParseAddr("198.18.1.5").As16()); !ok || hop.Port != 2 {
		t.Errorf("route via the VLAN port: %+v %v, want port 2", hop, ok)
	}
}
