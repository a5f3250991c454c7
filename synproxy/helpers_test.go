package synproxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

var (
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	proxyMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	serverMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 3}
	client4   = netip.MustParseAddr("198.18.0.10")
	vip4      = netip.MustParseAddr("198.18.1.1")
	server4   = netip.MustParseAddr("198.18.2.2")
	client6   = netip.MustParseAddr("2001:2::10")
	vip6      = netip.MustParseAddr("2001:2:0:1::1")
	server6   = netip.MustParseAddr("2001:2:0:2::2")
)

// testKey returns a fixed key whose bytes start at seed.
func testKey(seed byte) Key {
	var k Key
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// tcpSpec describes a TCP segment built with gopacket.
type tcpSpec struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	sport, dport   uint16
	seq, ack       uint32
	syn, ack_, rst bool
	ece, cwr, psh  bool
	window         uint16
	options        []layers.TCPOption
	payload        []byte
	vlan           uint16 // 0: untagged
	ipOptions      bool
}

// synOptions returns the options of a SYN as the spec says; wscale < 0 and
// mss 0 leave the option out.
func synOptions(mss uint16, wscale int, sack, ts bool, tsVal uint32) []layers.TCPOption {
	var o []layers.TCPOption
	if mss != 0 {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: be16(mss)})
	}
	if sack {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	}
	if ts {
		o = append(o, tsOption(tsVal, 0))
	}
	if wscale >= 0 {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(wscale)}})
	}
	return o
}

func tsOption(val, ecr uint32) layers.TCPOption {
	d := make([]byte, 8)
	binary.BigEndian.PutUint32(d, val)
	binary.BigEndian.PutUint32(d[4:], ecr)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d}
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// buildTCP serializes s with lengths and checksums computed, into a buffer
// with room to grow (capacity 256).
func buildTCP(tb testing.TB, s tcpSpec) []byte {
	tb.Helper()
	etherType := layers.EthernetTypeIPv4
	if s.src.Is6() {
		etherType = layers.EthernetTypeIPv6
	}
	srcMAC, dstMAC := s.srcMAC, s.dstMAC
	if srcMAC == nil {
		srcMAC, dstMAC = clientMAC, proxyMAC
	}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: etherType}
	ls = append(ls, eth)
	if s.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: s.vlan, Type: etherType})
	}
	var nl gopacket.NetworkLayer
	if s.src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 50, TOS: 0x2a << 2, Id: 7, Protocol: layers.IPProtocolTCP,
			SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
		if s.ipOptions {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		nl = ip
	} else {
		nl = &layers.IPv6{Version: 6, HopLimit: 50, TrafficClass: 0x2a << 2, NextHeader: layers.IPProtocolTCP,
			SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
	}
	ls = append(ls, nl.(gopacket.SerializableLayer))
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
		Seq: s.seq, Ack: s.ack, Window: s.window, SYN: s.syn, ACK: s.ack_, RST: s.rst,
		ECE: s.ece, CWR: s.cwr, PSH: s.psh, Options: s.options}
	if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
		tb.Fatal(err)
	}
	ls = append(ls, tcp, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	frame := make([]byte, len(buf.Bytes()), 256)
	copy(frame, buf.Bytes())
	return frame
}

// parse parses frame and fails the test unless it is a valid TCP packet.
func parse(tb testing.TB, frame []byte) *header.Packet {
	tb.Helper()
	p := new(header.Packet)
	if r := p.Parse(frame); r != header.ParseOK || p.Proto != header.ProtocolTCP {
		tb.Fatalf("parse: %v proto %d", r, p.Proto)
	}
	return p
}

// decoded is a frame decoded by gopacket with its checksums verified.
type decoded struct {
	eth  *layers.Ethernet
	ip4  *layers.IPv4
	ip6  *layers.IPv6
	tcp  *layers.TCP
	opts map[layers.TCPOptionKind][]byte
	raw  []layers.TCPOptionKind // option kinds in order, NOPs included
}

// decode decodes frame with gopacket and fails unless the IPv4 header and
// TCP checksums verify.
func decode(tb testing.TB, frame []byte) decoded {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("decode: %v", el.Error())
	}
	var d decoded
	d.eth, _ = pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d.tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if d.tcp == nil {
		tb.Fatal("no TCP layer")
	}
	if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
		d.ip4 = l.(*layers.IPv4)
		if sum := rfc1071(d.ip4.Contents); sum != 0xffff {
			tb.Fatalf("IPv4 header checksum does not verify (sum %#x)", sum)
		}
		_ = d.tcp.SetNetworkLayerForChecksum(d.ip4)
	} else {
		d.ip6 = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		_ = d.tcp.SetNetworkLayerForChecksum(d.ip6)
	}
	// Over a segment whose checksum field is right, gopacket's sum is 0.
	if cs, err := d.tcp.ComputeChecksum(); err != nil || cs != 0 {
		tb.Fatalf("TCP checksum does not verify: %#x %v", cs, err)
	}
	d.opts = map[layers.TCPOptionKind][]byte{}
	for _, o := range d.tcp.Options {
		d.raw = append(d.raw, o.OptionType)
		if o.OptionType != layers.TCPOptionKindNop {
			d.opts[o.OptionType] = o.OptionData
		}
	}
	return d
}

// rfc1071 is a plain reference one's complement sum, independent of package
// header.
func rfc1071(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
