package steer

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Rule 7: another site's director sheds connections to our VIPs inside
// IPIP, IPv6-in-IP or GUE (port 6080 here).

const overflowGUEPort = 6080

var (
	peerSite  = netip.MustParseAddr("198.18.5.1")
	peerSite6 = netip.MustParseAddr("2001:2:0:5::1")
	tunnelled = Stats{SteeredTunnel: 1, NoSocket: 1}
)

// tunnelFrame is a TCP/UDP packet from client to dst:dport inside an outer
// header from outerSrc to the director (IPIP or IPv6-in-IP), or inside GUE
// to guePort when it is not 0. gueHeader overrides the GUE header.
func tunnelFrame(tb testing.TB, outerSrc, src, dst netip.Addr, dport uint16, proto layers.IPProtocol, guePort uint16, gueHeader []byte) []byte {
	tb.Helper()
	outerDst := directorIn
	if outerSrc.Is6() {
		outerDst = directorIn6
	}
	innerProto := layers.IPProtocolIPv4
	if src.Is6() {
		innerProto = layers.IPProtocolIPv6
	}
	outerProto := innerProto
	if guePort != 0 {
		outerProto = layers.IPProtocolUDP
	}
	outer, ethertype := ipHeader(outerSrc, outerDst, outerProto)
	ls := []gopacket.SerializableLayer{ethernet(ethertype), outer.(gopacket.SerializableLayer)}
	if guePort != 0 {
		udp := &layers.UDP{SrcPort: 50000, DstPort: layers.UDPPort(guePort)}
		udp.SetNetworkLayerForChecksum(outer)
		if gueHeader == nil {
			gueHeader = []byte{0, byte(innerProto), 0, 0}
		}
		ls = append(ls, udp, gopacket.Payload(gueHeader))
	}
	inner := transport(src, clientPort, dst, dport, proto)
	// The GUE header and the inner packet are one payload to gopacket.
	innerBytes := serialize(tb, inner...)
	if guePort != 0 {
		ls[len(ls)-1] = gopacket.Payload(append(append([]byte{}, gueHeader...), innerBytes...))
	} else {
		ls = append(ls, gopacket.Payload(innerBytes))
	}
	return serialize(tb, ls...)
}

func tunnelCases(tb testing.TB) []classifyCase {
	tcp, udp := layers.IPProtocolTCP, layers.IPProtocolUDP
	return []classifyCase{
		{"ipip to vip:port", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, 0, nil), tunnelled},
		{"ipip udp to vip:port", tunnelFrame(tb, peerSite, client, vip, dnsPort, udp, 0, nil), tunnelled},
		{"6in6 to vip6:port", tunnelFrame(tb, peerSite6, client6, vip6, servicePort, tcp, 0, nil), tunnelled},
		{"6in4 to vip6:port", tunnelFrame(tb, peerSite, client6, vip6, servicePort, tcp, 0, nil), tunnelled},
		{"gue to vip:port", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, overflowGUEPort, nil), tunnelled},
		{"gue over ipv6 to vip6:port", tunnelFrame(tb, peerSite6, client6, vip6, servicePort, tcp, overflowGUEPort, nil), tunnelled},
		{"ipip to vip, other port", tunnelFrame(tb, peerSite, client, vip, servicePort+1, tcp, 0, nil), passed},
		{"ipip to a real server", tunnelFrame(tb, peerSite, client, realServer, servicePort, tcp, 0, nil), passed},
		{"gue to another udp port", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, overflowGUEPort+1, nil), passed},
		{"gue with options", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, overflowGUEPort, []byte{1, 4, 0, 0, 0, 0, 0, 0}), passed},
		{"gue control message", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, overflowGUEPort, []byte{0x20, 4, 0, 0}), passed},
		{"gue naming ipv6, holding ipv4", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, overflowGUEPort, []byte{0, 41, 0, 0}), passed},
		{"truncated ipip", tunnelFrame(tb, peerSite, client, vip, servicePort, tcp, 0, nil)[:14+20+20], passed},
	}
}

// TestClassifyOverflowTunnels runs rule 7 with overflow accepting on, and
// checks that nothing is steered with it off.
func TestClassifyOverflowTunnels(t *testing.T) {
	prog := loadTestProgram(t)
	for _, tc := range tunnelCases(t) {
		if _, got := run(t, prog, tc.frame); got != passed {
			t.Errorf("%s with overflow accept off: counters changed by %+v, want passed", tc.name, got)
		}
	}
	must(t, prog.SetOverflowAccept(true, overflowGUEPort))
	for _, tc := range tunnelCases(t) {
		if _, got := run(t, prog, tc.frame); got != tc.want {
			t.Errorf("%s: counters changed by %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// Without a GUE port only IPIP is taken.
	must(t, prog.SetOverflowAccept(true, 0))
	gue := tunnelFrame(t, peerSite, client, vip, servicePort, layers.IPProtocolTCP, overflowGUEPort, nil)
	if _, got := run(t, prog, gue); got != passed {
		t.Errorf("gue without a gue port: counters changed by %+v, want passed", got)
	}
	// The ordinary rules still come first.
	if _, got := run(t, prog, frame(t, client, clientPort, vip, dnsPort, layers.IPProtocolUDP)); got != service {
		t.Errorf("udp to a service with overflow accept on: %+v", got)
	}
}
