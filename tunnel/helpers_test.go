package tunnel

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	directorMAC = net.HardwareAddr{0x02, 0xd0, 0, 0, 0, 0x01}
	realMAC     = net.HardwareAddr{0x02, 0xa2, 0, 0, 0, 0x02}
)

// inner describes the client's packet as the director receives it.
type inner struct {
	src, dst string // client and VIP
	udp      bool
	tos      uint8
	noDF     bool
	vlan     uint16 // 0: untagged
	padTo    int    // Ethernet padding up to this frame length
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayers builds the IP packet (no link layer) of p.
func (p inner) ipLayers(tb testing.TB) []gopacket.SerializableLayer {
	tb.Helper()
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	var ip gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 61, Id: 0x1234, TOS: p.tos, Protocol: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if !p.noDF {
			v4.Flags = layers.IPv4DontFragment
		}
		ip = v4
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 61, TrafficClass: p.tos, FlowLabel: 0xbeef, NextHeader: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	ls := []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer)}
	if p.udp {
		udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		return append(ls, udp, gopacket.Payload("q"))
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 7, SYN: true, Window: 64240}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	return append(ls, tcp, gopacket.Payload("GET / HTTP/1.1\r\n\r\n"))
}

// linkLayers returns the Ethernet header (and VLAN tag) for a payload of
// the given EtherType.
func linkLayers(vlan uint16, etherType layers.EthernetType, src, dst net.HardwareAddr) []gopacket.SerializableLayer {
	if vlan == 0 {
		return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: etherType}}
	}
	return []gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: vlan, Type: etherType},
	}
}

func etherTypeOf(addr string) layers.EthernetType {
	if netip.MustParseAddr(addr).Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

// packet returns the inner IP packet alone.
func (p inner) packet(tb testing.TB) []byte { return serialize(tb, p.ipLayers(tb)...) }

// frame returns the frame the director receives (already readdressed to the
// real server's MAC, as the worker does before encapsulating), padded.
func (p inner) frame(tb testing.TB) []byte {
	ls := append(linkLayers(p.vlan, etherTypeOf(p.src), directorMAC, realMAC), p.ipLayers(tb)...)
	f := serialize(tb, ls...)
	for len(f) < p.padTo {
		f = append(f, 0)
	}
	return f
}

// encapsulated is the frame the real server must receive: p's IP packet in
// an outer header from src to dst, built by gopacket.
func (p inner) encapsulated(tb testing.TB, src, dst string, id uint16) []byte {
	tb.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	proto := layers.IPProtocolIPv4
	if netip.MustParseAddr(p.src).Is6() {
		proto = layers.IPProtocolIPv6
	}
	var outer gopacket.SerializableLayer
	if s.Is4() {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TOS: p.tos, Id: id, TTL: 64, Protocol: proto,
			SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		if !p.noDF {
			v4.Flags = layers.IPv4DontFragment
		}
		outer = v4
	} else {
		outer = &layers.IPv6{Version: 6, TrafficClass: p.tos, HopLimit: 64, NextHeader: proto,
			SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	}
	ls := append(linkLayers(p.vlan, etherTypeOf(src), directorMAC, realMAC), outer, gopacket.Payload(p.packet(tb)))
	return serialize(tb, ls...)
}

// unpadded is p's frame without Ethernet padding (gopacket pads short
// frames itself): what the real server's kernel must see after
// decapsulation.
func (p inner) unpadded(tb testing.TB, l3Off int) []byte {
	return append(p.frame(tb)[:l3Off:l3Off], p.packet(tb)...)
}

func as16(s string) [16]byte { return netip.MustParseAddr(s).As16() }
