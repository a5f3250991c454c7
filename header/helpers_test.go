package header

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frameSpec describes a test frame; buildFrame turns it into bytes with
// gopacket, lengths and checksums computed.
type frameSpec struct {
	vlans     []uint16 // VLAN IDs, outermost first (first uses 802.1ad if there are two)
	src, dst  netip.Addr
	proto     uint8 // ProtocolTCP, ProtocolUDP, ProtocolICMPv4, ProtocolICMPv6
	sport     uint16
	dport     uint16
	ttl       uint8 // hop limit for IPv6
	tcpFlags  uint8 // defaults to ACK
	mss       uint16
	ipOptions bool // add 4 bytes of IPv4 options (NOPs and EOL)
	icmpType  uint8
	icmpIdent uint16
	noUDPSum  bool // zero the UDP checksum after serializing (IPv4 "no checksum")
	payload   []byte
	padTo     int // append zero bytes up to this frame length (Ethernet minimum 60)
}

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func buildFrame(tb testing.TB, s frameSpec) []byte {
	tb.Helper()
	var ls []gopacket.SerializableLayer
	etherType := layers.EthernetTypeIPv4
	if s.src.Is6() {
		etherType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: testSrcMAC, DstMAC: testDstMAC, EthernetType: etherType}
	ls = append(ls, eth)
	for i, id := range s.vlans {
		tpid := layers.EthernetTypeDot1Q
		if i == 0 && len(s.vlans) > 1 {
			tpid = layers.EthernetTypeQinQ
		}
		if i == 0 {
			eth.EthernetType = tpid
		} else {
			ls[len(ls)-1].(*layers.Dot1Q).Type = tpid
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: etherType})
	}

	var netLayer gopacket.NetworkLayer
	if s.src.Is4() {
		ip := &layers.IPv4{
			Version: 4, TTL: s.ttl, Id: 0x1234, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocol(s.proto),
			SrcIP:    s.src.AsSlice(), DstIP: s.dst.AsSlice(),
		}
		if s.ipOptions {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		netLayer = ip
	} else {
		netLayer = &layers.IPv6{
			Version: 6, HopLimit: s.ttl, FlowLabel: 0xbeef,
			NextHeader: layers.IPProtocol(s.proto),
			SrcIP:      s.src.AsSlice(), DstIP: s.dst.AsSlice(),
		}
	}
	ls = append(ls, netLayer.(gopacket.SerializableLayer))

	switch s.proto {
	case ProtocolTCP:
		flags := s.tcpFlags
		if flags == 0 {
			flags = TCPFlagAck
		}
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
			Seq: 0x01020304, Ack: 0x0a0b0c0d, Window: 64240,
			FIN: flags&TCPFlagFin != 0, SYN: flags&TCPFlagSyn != 0, RST: flags&TCPFlagRst != 0,
			PSH: flags&TCPFlagPsh != 0, ACK: flags&TCPFlagAck != 0, URG: flags&TCPFlagUrg != 0,
		}
		if s.mss != 0 {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(s.mss >> 8), byte(s.mss)}},
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			}
		}
		if err := tcp.SetNetworkLayerForChecksum(netLayer); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, tcp)
	case ProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		if err := udp.SetNetworkLayerForChecksum(netLayer); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, udp)
	case ProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{
			TypeCode: layers.CreateICMPv4TypeCode(s.icmpType, 0), Id: s.icmpIdent, Seq: 7,
		})
	case ProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(s.icmpType, 0)}
		if err := icmp.SetNetworkLayerForChecksum(netLayer); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: s.icmpIdent, SeqNumber: 7})
	}
	ls = append(ls, gopacket.Payload(s.payload))

	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize %+v: %v", s, err)
	}
	frame := append([]byte(nil), buf.Bytes()...)
	if s.noUDPSum {
		var p Packet
		if r := p.Parse(frame); r != ParseOK {
			tb.Fatalf("parse built frame: %v", r)
		}
		p.UDP().SetChecksum(0)
	}
	for len(frame) < s.padTo {
		frame = append(frame, 0)
	}
	return frame
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
