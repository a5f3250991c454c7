package nat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// icmpError is an ICMP error from src to dst quoting the first quoteLen
// bytes of quoted's IP packet (all of it when quoteLen is larger), built by
// gopacket with every checksum computed.
type icmpError struct {
	src, dst netip.Addr
	quoted   flow
	quoteLen int
	word     uint32 // the second word: unused, or the MTU
}

func (e icmpError) frame(tb testing.TB) []byte {
	tb.Helper()
	inner := e.quoted.frame(tb)[header.EthernetMinimumSize:]
	inner = inner[:min(len(inner), e.quoteLen)]
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	if e.src.Is4() {
		ls = []gopacket.SerializableLayer{eth,
			&layers.IPv4{Version: 4, TTL: 60, Protocol: layers.IPProtocolICMPv4, SrcIP: e.src.AsSlice(), DstIP: e.dst.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(header.ICMPv4DestinationUnreachable, header.ICMPv4CodeFragmentationNeeded),
				Id: uint16(e.word >> 16), Seq: uint16(e.word)},
		}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 60, NextHeader: layers.IPProtocolICMPv6, SrcIP: e.src.AsSlice(), DstIP: e.dst.AsSlice()}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(header.ICMPv6PacketTooBig, 0)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		ls = []gopacket.SerializableLayer{eth, ip, icmp}
		word := binary.BigEndian.AppendUint32(nil, e.word)
		inner = append(word, inner...) // gopacket's ICMPv6 layer ends after the checksum
	}
	ls = append(ls, gopacket.Payload(inner))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// quoteLengths covers the quotes routers send: 8 bytes of transport (IPv4
// routers), TCP cut just before and just after its checksum, and whole. (A
// quote ending inside TCP's checksum cannot be updated: its new value needs
// the missing byte. It keeps its stale bytes, as any shorter quote.)
var quoteLengths = []int{8, 12, 16, 18, 20, 1 << 16}

// TestQuoteRewriteMatchesRebuild: translating an ICMP error about one packet
// into an error about its rewritten form gives exactly the bytes gopacket
// builds for that error: the outer addresses, the quoted addresses and
// ports, the quoted IPv4 header checksum, the quoted transport checksum
// where the quote holds it, and the ICMP checksum.
func TestQuoteRewriteMatchesRebuild(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 0
	for _, v6 := range []bool{false, true} {
		for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
			for _, quoted := range quoteLengths {
				for range 50 {
					n++
					in := icmpError{src: randomAddr(r, v6), dst: randomAddr(r, v6), word: r.Uint32() & 0xffff,
						quoted: flow{src: randomAddr(r, v6), dst: randomAddr(r, v6), sport: uint16(r.Uint32()),
							dport: uint16(r.Uint32()), proto: proto, payload: make([]byte, r.IntN(40))}}
					in.quoted.noUDPSum = proto == header.ProtocolUDP && !v6 && r.IntN(3) == 0
					for i := range in.quoted.payload {
						in.quoted.payload[i] = byte(r.Uint32())
					}
					in.quoteLen = ipHeaderLen(v6) + quoted
					out := in
					out.src, out.dst = randomAddr(r, v6), randomAddr(r, v6)
					out.quoted.src, out.quoted.dst = randomAddr(r, v6), randomAddr(r, v6)
					out.quoted.sport, out.quoted.dport = uint16(r.Uint32()), uint16(r.Uint32())

					got := in.frame(t)
					p := parseICMP(t, got)
					q, ok := ParseQuote(p.L4(), v6)
					if !ok {
						t.Fatalf("case %d: quote not parsed", n)
					}
					if q.Src != in.quoted.src.As16() || q.DstPort != in.quoted.dport || q.Proto != proto {
						t.Fatalf("case %d: parsed quote %+v, want %+v", n, q, in.quoted)
					}
					qsrc, qdst := out.quoted.src.As16(), out.quoted.dst.As16()
					q.Rewrite(&qsrc, out.quoted.sport, &qdst, out.quoted.dport)
					osrc, odst := out.src.As16(), out.dst.As16()
					SetICMPAddresses(p, &osrc, &odst)
					if want := out.frame(t); !bytes.Equal(got, want) {
						t.Fatalf("case %d (%v %d, quote %d):\n got %x\nwant %x", n, v6, proto, quoted, got, want)
					}
				}
			}
		}
	}
}

func ipHeaderLen(v6 bool) int {
	if v6 {
		return header.IPv6MinimumSize
	}
	return header.IPv4MinimumSize
}

func parseICMP(tb testing.TB, frame []byte) *header.Packet {
	tb.Helper()
	p := new(header.Packet)
	if r := p.Parse(frame); r != header.ParseOK {
		tb.Fatalf("parse: %v", r)
	}
	return p
}

// TestParseQuoteRefuses: quotes that cannot name a connection are refused.
func TestParseQuoteRefuses(t *testing.T) {
	base := icmpError{src: netip.MustParseAddr("198.18.1.254"), dst: netip.MustParseAddr("198.18.0.10"), quoteLen: 1 << 16,
		quoted: flow{src: netip.MustParseAddr("198.18.0.10"), dst: netip.MustParseAddr("198.18.1.1"), sport: 80, dport: 40000, proto: header.ProtocolUDP}}
	whole := parseICMP(t, base.frame(t)).L4()
	if _, ok := ParseQuote(whole, false); !ok {
		t.Fatal("a whole UDP quote was refused")
	}
	cases := map[string]func(msg []byte) []byte{
		"seven transport bytes": func(m []byte) []byte { return m[:8+20+7] },
		"no IP header":          func(m []byte) []byte { return m[:8+19] },
		"ICMP header only":      func(m []byte) []byte { return m[:8] },
		"other protocol":        func(m []byte) []byte { m[8+9] = header.ProtocolICMPv4; return m },
		"IHL below 5":           func(m []byte) []byte { m[8] = 0x44; return m },
		"IHL past the quote":    func(m []byte) []byte { m[8] = 0x4f; return m[:8+20+8] },
		"later fragment":        func(m []byte) []byte { m[8+7] = 1; return m },
		"IPv6 version":          func(m []byte) []byte { m[8] = 0x65; return m },
	}
	for name, mangle := range cases {
		msg := mangle(append([]byte(nil), whole...))
		if _, ok := ParseQuote(msg, false); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := ParseQuote(whole, true); ok {
		t.Error("an IPv4 quote was accepted as IPv6")
	}
}

// TestQuoteRewriteAllocs: parsing and rewriting a quote allocates nothing.
func TestQuoteRewriteAllocs(t *testing.T) {
	e := icmpError{src: netip.MustParseAddr("198.18.1.254"), dst: netip.MustParseAddr("198.18.0.10"), quoteLen: 28,
		quoted: flow{src: netip.MustParseAddr("198.18.0.10"), dst: netip.MustParseAddr("198.18.1.1"), sport: 80, dport: 40000, proto: header.ProtocolTCP}}
	p := parseICMP(t, e.frame(t))
	src, dst := netip.MustParseAddr("198.18.2.2").As16(), netip.MustParseAddr("198.18.1.1").As16()
	allocs := testing.AllocsPerRun(100, func() {
		q, _ := ParseQuote(p.L4(), false)
		q.Rewrite(&src, 8080, &dst, 40000)
		SetICMPAddresses(p, &dst, &src)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per rewrite", allocs)
	}
}

// FuzzParseQuote: no message makes parsing or rewriting a quote panic.
func FuzzParseQuote(f *testing.F) {
	e := icmpError{src: netip.MustParseAddr("198.18.1.254"), dst: netip.MustParseAddr("198.18.0.10"), quoteLen: 1 << 16,
		quoted: flow{src: netip.MustParseAddr("198.18.0.10"), dst: netip.MustParseAddr("198.18.1.1"), sport: 80, dport: 40000, proto: header.ProtocolTCP}}
	f.Add(parseICMP(f, e.frame(f)).L4(), false)
	e.src, e.dst = netip.MustParseAddr("2001:2:0:1::fe"), netip.MustParseAddr("2001:2::10")
	e.quoted.src, e.quoted.dst = netip.MustParseAddr("2001:2::10"), netip.MustParseAddr("2001:2:0:1::1")
	f.Add(parseICMP(f, e.frame(f)).L4(), true)
	a, b := netip.MustParseAddr("2001:2::1").As16(), netip.MustParseAddr("198.18.0.1").As16()
	f.Fuzz(func(t *testing.T, msg []byte, v6 bool) {
		q, ok := ParseQuote(msg, v6)
		if !ok {
			return
		}
		if v6 {
			q.Rewrite(&a, 1, &a, 2)
		} else {
			q.Rewrite(&b, 1, &b, 2)
		}
	})
}

// BenchmarkQuoteRewrite is the translation of one IPv4 error about a NAT
// reply: parse the quote, rewrite it, readdress the outer header.
func BenchmarkQuoteRewrite(b *testing.B) {
	e := icmpError{src: netip.MustParseAddr("198.18.1.254"), dst: netip.MustParseAddr("198.18.0.10"), quoteLen: 1 << 16,
		quoted: flow{src: netip.MustParseAddr("198.18.0.10"), dst: netip.MustParseAddr("198.18.1.1"), sport: 80, dport: 40000,
			proto: header.ProtocolTCP, payload: make([]byte, 512)}}
	p := parseICMP(b, e.frame(b))
	addrs := [2][16]byte{netip.MustParseAddr("198.18.2.2").As16(), netip.MustParseAddr("198.18.0.10").As16()}
	router := netip.MustParseAddr("198.18.1.254").As16()
	client := netip.MustParseAddr("198.18.1.1").As16()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q, _ := ParseQuote(p.L4(), false)
		q.Rewrite(&addrs[i&1], 80, &client, 40000)
		SetICMPAddresses(p, &router, &addrs[i&1])
	}
}
