package nat

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// flow is one packet's endpoints and contents, built into a frame by
// gopacket with every length and checksum computed.
type flow struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	payload      []byte
	noUDPSum     bool
}

func (f flow) frame(tb testing.TB) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	if f.src.Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64, Id: 7, Protocol: layers.IPProtocol(f.proto), SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice()}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(f.proto), SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice()}
	}
	var l4 interface {
		gopacket.SerializableLayer
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	if f.proto == header.ProtocolTCP {
		l4 = &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), Seq: 11, Ack: 22, ACK: true, Window: 512}
	} else {
		l4 = &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
	}
	if err := l4.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip.(gopacket.SerializableLayer), l4, gopacket.Payload(f.payload))
	if err != nil {
		tb.Fatal(err)
	}
	frame := append([]byte(nil), buf.Bytes()...)
	if f.proto == header.ProtocolUDP {
		udp := parse(tb, frame).UDP()
		switch {
		case f.noUDPSum:
			udp.SetChecksum(0)
		case udp.Checksum() == 0: // gopacket sends a computed 0 as is; RFC 768 sends it as 0xFFFF
			udp.SetChecksum(0xffff)
		}
	}
	return frame
}

func parse(tb testing.TB, frame []byte) *header.Packet {
	tb.Helper()
	p := new(header.Packet)
	if r := p.Parse(frame); r != header.ParseOK {
		tb.Fatalf("parse: %v", r)
	}
	return p
}

func randomAddr(r *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var a [16]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
}

// TestRewriteFullNATMatchesRebuild: over random endpoints, payloads and
// both families and protocols, the incremental rewrite leaves exactly the
// bytes of a frame built from scratch with the new endpoints, and the same
// bytes as four separate rewrites.
func TestRewriteFullNATMatchesRebuild(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 4000 {
		v6 := i%2 == 1
		in := flow{src: randomAddr(r, v6), dst: randomAddr(r, v6), sport: uint16(r.Uint32()), dport: uint16(r.Uint32()),
			proto: header.ProtocolTCP, payload: make([]byte, r.IntN(64))}
		if i%4 >= 2 {
			in.proto = header.ProtocolUDP
			in.noUDPSum = !v6 && r.IntN(4) == 0
		}
		for j := range in.payload {
			in.payload[j] = byte(r.Uint32())
		}
		out := in
		out.src, out.dst, out.sport, out.dport = randomAddr(r, v6), randomAddr(r, v6), uint16(r.Uint32()), uint16(r.Uint32())
		src, dst := out.src.As16(), out.dst.As16() // IPv4 in its mapped form, as the dataplane holds it

		got := in.frame(t)
		p := parse(t, got)
		RewriteFullNAT(p, &src, out.sport, &dst, out.dport)
		want := out.frame(t)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (%+v → %+v):\n got %x\nwant %x", i, in, out, got, want)
		}
		if p.Src != src || p.Dst != dst || p.SrcPort != out.sport || p.DstPort != out.dport {
			t.Fatalf("case %d: the parsed view was not updated", i)
		}

		sep := in.frame(t)
		q := parse(t, sep)
		RewriteSource(q, &src, out.sport)
		RewriteDestination(q, &dst, out.dport)
		if !bytes.Equal(sep, want) {
			t.Fatalf("case %d: separate rewrites differ from the fused one\n sep %x\nwant %x", i, sep, want)
		}
	}
}

func TestRewriteFullNATAllocs(t *testing.T) {
	f := flow{src: netip.MustParseAddr("198.18.1.5"), dst: netip.MustParseAddr("198.18.0.30"), sport: 40000, dport: 80,
		proto: header.ProtocolTCP}
	frame := f.frame(t)
	p := parse(t, frame)
	local, real := netip.MustParseAddr("198.18.3.1").As16(), netip.MustParseAddr("198.18.2.2").As16()
	if n := testing.AllocsPerRun(1000, func() { RewriteFullNAT(p, &local, 1024, &real, 8080) }); n != 0 {
		t.Fatalf("%v allocations per rewrite, want 0", n)
	}
}

// BenchmarkRewriteFullNAT compares the fused rewrite with a source and a
// destination rewrite one after the other.
func BenchmarkRewriteFullNAT(b *testing.B) {
	f := flow{src: netip.MustParseAddr("198.18.1.5"), dst: netip.MustParseAddr("198.18.0.30"), sport: 40000, dport: 80,
		proto: header.ProtocolTCP}
	local, real := netip.MustParseAddr("198.18.3.1").As16(), netip.MustParseAddr("198.18.2.2").As16()
	client, vip := netip.MustParseAddr("198.18.1.5").As16(), netip.MustParseAddr("198.18.0.30").As16()
	b.Run("fused", func(b *testing.B) {
		p := parse(b, f.frame(b))
		b.ReportAllocs()
		for b.Loop() {
			RewriteFullNAT(p, &local, 1024, &real, 8080)
			RewriteFullNAT(p, &client, 40000, &vip, 80)
		}
	})
	b.Run("separate", func(b *testing.B) {
		p := parse(b, f.frame(b))
		b.ReportAllocs()
		for b.Loop() {
			RewriteSource(p, &local, 1024)
			RewriteDestination(p, &real, 8080)
			RewriteSource(p, &client, 40000)
			RewriteDestination(p, &vip, 80)
		}
	})
}
