package steer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Addresses of the test director (see the address plan in DESIGN.md).
var (
	vip         = netip.MustParseAddr("198.18.0.10")
	vipAllPorts = netip.MustParseAddr("198.18.0.20") // persistent all-ports service
	client      = netip.MustParseAddr("198.18.1.1")
	realServer  = netip.MustParseAddr("198.18.2.2")
	directorIn  = netip.MustParseAddr("198.18.2.1") // director's own inside address
	localAddr   = netip.MustParseAddr("198.18.3.1") // FULLNAT local address
	router      = netip.MustParseAddr("198.18.1.254")

	router6     = netip.MustParseAddr("2001:2:0:1::fe")
	vip6        = netip.MustParseAddr("2001:2::10")
	client6     = netip.MustParseAddr("2001:2:0:1::1")
	realServer6 = netip.MustParseAddr("2001:2:0:2::2")
	directorIn6 = netip.MustParseAddr("2001:2:0:2::1")
	localAddr6  = netip.MustParseAddr("2001:2:0:3::1")
)

const (
	servicePort    = 80
	dnsPort        = 53
	realServerPort = 8080
	clientPort     = 40000
	localPort      = 50000
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// serialize builds a frame from layers, fixing lengths and checksums.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatalf("serialize packet: %v", err)
	}
	return buf.Bytes()
}

func ethernet(ethertype layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: ethertype}
}

func ipv4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ipv6(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// ipHeader returns the IP layer for src → dst in the right family.
func ipHeader(src, dst netip.Addr, proto layers.IPProtocol) (gopacket.NetworkLayer, layers.EthernetType) {
	if src.Is4() {
		return ipv4(src, dst, proto), layers.EthernetTypeIPv4
	}
	return ipv6(src, dst, proto), layers.EthernetTypeIPv6
}

// transport returns the L3 and L4 layers of a TCP SYN or a UDP datagram.
func transport(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto layers.IPProtocol) []gopacket.SerializableLayer {
	ip, _ := ipHeader(src, dst, proto)
	var l4 gopacket.SerializableLayer
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	}
	return []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), l4, gopacket.Payload("fastlvs")}
}

// frame is an Ethernet frame carrying a TCP SYN or UDP datagram.
func frame(tb testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto layers.IPProtocol) []byte {
	tb.Helper()
	_, ethertype := ipHeader(src, dst, proto)
	return serialize(tb, append([]gopacket.SerializableLayer{ethernet(ethertype)},
		transport(src, sport, dst, dport, proto)...)...)
}

// vlanFrame is frame behind the given VLAN tags, outermost first; an outer
// tag of 802.1ad (QinQ) is used when there are two.
func vlanFrame(tb testing.TB, vlans []uint16, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto layers.IPProtocol) []byte {
	tb.Helper()
	_, ethertype := ipHeader(src, dst, proto)
	outer := layers.EthernetTypeDot1Q
	if len(vlans) > 1 {
		outer = layers.EthernetTypeQinQ
	}
	ls := []gopacket.SerializableLayer{ethernet(outer)}
	for i, id := range vlans {
		next := layers.EthernetTypeDot1Q
		if i == len(vlans)-1 {
			next = ethertype
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	return serialize(tb, append(ls, transport(src, sport, dst, dport, proto)...)...)
}

// tagged is frame with one more tag (tpid, id) right after its MACs.
func tagged(frame []byte, tpid, id uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, id)
	return append(out, frame[12:]...)
}

func arpRequest(tb testing.TB, target netip.Addr) []byte {
	tb.Helper()
	return serialize(tb, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: client.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
}

func echoRequest(tb testing.TB, src, dst netip.Addr) []byte {
	tb.Helper()
	if src.Is4() {
		return serialize(tb, ethernet(layers.EthernetTypeIPv4), ipv4(src, dst, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
			gopacket.Payload("ping"))
	}
	ip := ipv6(src, dst, layers.IPProtocolICMPv6)
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethernet(layers.EthernetTypeIPv6), ip, icmp,
		&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, gopacket.Payload("ping"))
}

// icmpError is an ICMP(v6) error from reporter to dst quoting the IP packet
// embedded (an L3 packet without Ethernet, cut to what routers quote).
func icmpError(tb testing.TB, reporter, dst netip.Addr, icmpType, code uint8, embedded []byte) []byte {
	tb.Helper()
	if reporter.Is4() {
		return serialize(tb, ethernet(layers.EthernetTypeIPv4), ipv4(reporter, dst, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(icmpType, code)}, gopacket.Payload(embedded))
	}
	ip := ipv6(reporter, dst, layers.IPProtocolICMPv6)
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(icmpType, code)}
	icmp.SetNetworkLayerForChecksum(ip)
	// The 4 bytes after the ICMPv6 type/code/checksum (unused, or the MTU).
	return serialize(tb, ethernet(layers.EthernetTypeIPv6), ip, icmp,
		gopacket.Payload(append([]byte{0, 0, 0x05, 0xdc}, embedded...)))
}

// quoted is the IP packet src:sport → dst:dport as an ICMP error quotes it:
// the IP header and the first 8 bytes of the transport header.
func quoted(tb testing.TB, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto layers.IPProtocol) []byte {
	tb.Helper()
	full := serialize(tb, transport(src, sport, dst, dport, proto)...)
	headerLen := 40
	if src.Is4() {
		headerLen = 20
	}
	return full[:headerLen+8]
}

// fragment4 is a UDP datagram to dst:dport as an IPv4 fragment.
func fragment4(tb testing.TB, dst netip.Addr, dport uint16, flags layers.IPv4Flag, offset uint16) []byte {
	tb.Helper()
	ls := transport(client, clientPort, dst, dport, layers.IPProtocolUDP)
	ip := ls[0].(*layers.IPv4)
	ip.Flags = flags
	ip.FragOffset = offset
	if offset != 0 { // later fragments carry payload, not the UDP header
		return serialize(tb, ethernet(layers.EthernetTypeIPv4), ip, gopacket.Payload("fragment payload"))
	}
	return serialize(tb, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}, ls...)...)
}

// fragment6 is a UDP datagram to dst:dport behind an IPv6 fragment header.
func fragment6(tb testing.TB, dst netip.Addr, dport uint16) []byte {
	tb.Helper()
	ls := transport(client6, clientPort, dst, dport, layers.IPProtocolUDP)
	ip := ls[0].(*layers.IPv6)
	ip.NextHeader = layers.IPProtocolIPv6Fragment
	udp := serialize(tb, ls[1:]...)
	fragmentHeader := []byte{byte(layers.IPProtocolUDP), 0, 0, 1 /* M flag */, 0, 0, 0, 42}
	return serialize(tb, ethernet(layers.EthernetTypeIPv6), ip, gopacket.Payload(append(fragmentHeader, udp...)))
}

// withIPv4Options is a TCP SYN to dst:dport whose IPv4 header carries 4 bytes
// of options (IHL 6), so the transport header is at a variable offset.
func withIPv4Options(tb testing.TB, dst netip.Addr, dport uint16) []byte {
	tb.Helper()
	ls := transport(client, clientPort, dst, dport, layers.IPProtocolTCP)
	ip := ls[0].(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	return serialize(tb, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}, ls...)...)
}

// withHopByHop is a TCP SYN to dst:dport behind an IPv6 hop-by-hop header.
func withHopByHop(tb testing.TB, dst netip.Addr, dport uint16) []byte {
	tb.Helper()
	ls := transport(client6, clientPort, dst, dport, layers.IPProtocolTCP)
	ip := ls[0].(*layers.IPv6)
	ip.NextHeader = layers.IPProtocolIPv6HopByHop
	tcp := serialize(tb, ls[1:]...)
	hopByHop := []byte{byte(layers.IPProtocolTCP), 0, 1, 4, 0, 0, 0, 0} // PadN
	return serialize(tb, ethernet(layers.EthernetTypeIPv6), ip, gopacket.Payload(append(hopByHop, tcp...)))
}

// withIHL rewrites the IHL of the IPv4 header that starts at byte 14.
func withIHL(frame []byte, ihl byte) []byte {
	out := append([]byte(nil), frame...)
	out[14] = out[14]&0xf0 | ihl
	return out
}
