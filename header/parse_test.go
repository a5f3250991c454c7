package header

import (
	"encoding/binary"
	"reflect"
	"testing"
)

var (
	parseTCP4 = frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolTCP, sport: 40000, dport: 80, ttl: 64, tcpFlags: TCPFlagPsh | TCPFlagAck, mss: 1460, payload: []byte("hello")}
	parseUDP6 = frameSpec{src: mustAddr("2001:2::1:7"), dst: mustAddr("2001:2::10"), proto: ProtocolUDP, sport: 5353, dport: 53, ttl: 64, payload: []byte("query")}
	parseSYN4 = frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolTCP, sport: 40000, dport: 80, ttl: 64, tcpFlags: TCPFlagSyn, padTo: 60}
	parseICMP = frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolICMPv4, ttl: 64, icmpType: ICMPv4EchoRequest, icmpIdent: 5, payload: []byte("ping")}
	parseICM6 = frameSpec{src: mustAddr("2001:2::1:7"), dst: mustAddr("2001:2::10"), proto: ProtocolICMPv6, ttl: 64, icmpType: ICMPv6EchoRequest, icmpIdent: 5}
)

type parseCase struct {
	name   string
	spec   frameSpec
	mutate func(f []byte) []byte // nil keeps the built frame
	want   ParseResult
	check  func(t *testing.T, p *Packet)
}

// samePacket compares two Packets, their frames by identity.
func samePacket(a, b *Packet) bool {
	x, y := *a, *b
	if len(x.Frame) != len(y.Frame) || (len(x.Frame) > 0 && &x.Frame[0] != &y.Frame[0]) {
		return false
	}
	x.Frame, y.Frame = nil, nil
	return reflect.DeepEqual(x, y)
}

// setByte, setUint16 and truncate return frame mutations.
func setByte(off int, v byte) func([]byte) []byte {
	return func(f []byte) []byte { f[off] = v; return f }
}

func setUint16(off int, v uint16) func([]byte) []byte {
	return func(f []byte) []byte { binary.BigEndian.PutUint16(f[off:], v); return f }
}

func truncate(n int) func([]byte) []byte {
	return func(f []byte) []byte { return f[:n] }
}

func parseCases() []parseCase {
	const eth = EthernetMinimumSize
	vlan := func(s frameSpec, ids ...uint16) frameSpec { s.vlans = ids; return s }
	return []parseCase{
		{name: "ipv4 tcp", spec: parseTCP4, want: ParseOK, check: func(t *testing.T, p *Packet) {
			want := Packet{
				Frame: p.Frame, L3Off: eth, L4Off: eth + 20, EtherType: EtherTypeIPv4, Proto: ProtocolTCP,
				Src: mustAddr("198.18.1.7").As16(), Dst: mustAddr("198.18.0.10").As16(),
				SrcPort: 40000, DstPort: 80, TCPFlags: TCPFlagPsh | TCPFlagAck, L4Len: 32 + 5, // options padded to 12 bytes
			}
			if !samePacket(p, &want) {
				t.Errorf("Packet = %+v\nwant     %+v", *p, want)
			}
			if mss, ok := p.TCP().MSS(); !ok || mss != 1460 {
				t.Errorf("MSS = %d, %v; want 1460", mss, ok)
			}
			if got := string(p.TCP().Payload()); got != "hello" {
				t.Errorf("payload %q", got)
			}
		}},
		{name: "ipv6 udp", spec: parseUDP6, want: ParseOK, check: func(t *testing.T, p *Packet) {
			want := Packet{
				Frame: p.Frame, L3Off: eth, L4Off: eth + 40, EtherType: EtherTypeIPv6, IsIPv6: true, Proto: ProtocolUDP,
				Src: mustAddr("2001:2::1:7").As16(), Dst: mustAddr("2001:2::10").As16(),
				SrcPort: 5353, DstPort: 53, L4Len: 13,
			}
			if !samePacket(p, &want) {
				t.Errorf("Packet = %+v\nwant     %+v", *p, want)
			}
		}},
		{name: "vlan ipv4 tcp", spec: vlan(parseTCP4, 100), want: ParseOK, check: func(t *testing.T, p *Packet) {
			if p.L3Off != eth+4 || p.EtherType != EtherTypeIPv4 || p.DstPort != 80 {
				t.Errorf("L3Off %d EtherType %#x DstPort %d", p.L3Off, p.EtherType, p.DstPort)
			}
			if id := VLAN(p.Frame[eth:]).ID(); id != 100 {
				t.Errorf("VLAN ID %d", id)
			}
		}},
		{name: "qinq ipv6 udp", spec: vlan(parseUDP6, 10, 20), want: ParseOK, check: func(t *testing.T, p *Packet) {
			if p.L3Off != eth+8 || p.EtherType != EtherTypeIPv6 || p.DstPort != 53 {
				t.Errorf("L3Off %d EtherType %#x DstPort %d", p.L3Off, p.EtherType, p.DstPort)
			}
		}},
		{name: "three vlan tags", spec: vlan(parseUDP6, 10, 20, 30), want: ParseNotIP},
		{name: "padded 60-byte syn", spec: parseSYN4, want: ParseOK, check: func(t *testing.T, p *Packet) {
			if len(p.Frame) != 60 || p.L4Len != 20 || len(p.TCP()) != 20 || len(p.IPv4().Payload()) != 20 {
				t.Errorf("frame %d L4Len %d TCP view %d: padding not excluded", len(p.Frame), p.L4Len, len(p.TCP()))
			}
			if p.TCPFlags != TCPFlagSyn {
				t.Errorf("flags %#x", p.TCPFlags)
			}
		}},
		{name: "ipv6 with trailing bytes", spec: parseUDP6, mutate: func(f []byte) []byte { return append(f, 1, 2, 3, 4) },
			want: ParseOK, check: func(t *testing.T, p *Packet) {
				if p.L4Len != 13 || len(p.IPv6().Payload()) != 13 {
					t.Errorf("L4Len %d", p.L4Len)
				}
			}},
		{name: "icmpv4 echo", spec: parseICMP, want: ParseOK, check: func(t *testing.T, p *Packet) {
			icmp := p.ICMPv4()
			if p.SrcPort != 0 || p.DstPort != 0 || icmp.Type() != ICMPv4EchoRequest || icmp.Ident() != 5 || icmp.IsError() {
				t.Errorf("ports %d/%d type %d ident %d", p.SrcPort, p.DstPort, icmp.Type(), icmp.Ident())
			}
		}},
		{name: "icmpv6 echo", spec: parseICM6, want: ParseOK, check: func(t *testing.T, p *Packet) {
			if icmp := p.ICMPv6(); icmp.Type() != ICMPv6EchoRequest || icmp.Ident() != 5 || icmp.IsError() {
				t.Errorf("type %d ident %d", icmp.Type(), icmp.Ident())
			}
		}},

		{name: "empty", spec: parseTCP4, mutate: truncate(0), want: ParseTooShort},
		{name: "ethernet cut", spec: parseTCP4, mutate: truncate(13), want: ParseTooShort},
		{name: "vlan tag cut", spec: vlan(parseTCP4, 100), mutate: truncate(eth + 3), want: ParseTooShort},
		{name: "ipv4 header cut", spec: parseTCP4, mutate: truncate(eth + 19), want: ParseTooShort},
		{name: "ipv4 payload cut", spec: parseTCP4, mutate: truncate(eth + 40), want: ParseTooShort},
		{name: "ipv4 options past frame", spec: parseTCP4, mutate: func(f []byte) []byte { f[eth] = 0x4f; f[eth+3] = 60; return f[:eth+40] }, want: ParseTooShort},
		{name: "ipv6 header cut", spec: parseUDP6, mutate: truncate(eth + 39), want: ParseTooShort},
		{name: "ipv6 payload cut", spec: parseUDP6, mutate: truncate(eth + 40 + 12), want: ParseTooShort},

		{name: "arp", spec: parseTCP4, mutate: setUint16(12, EtherTypeARP), want: ParseNotIP},
		{name: "ipv4 ihl 4", spec: parseTCP4, mutate: setByte(eth, 0x44), want: ParseBadIPv4},
		{name: "ipv4 version 6", spec: parseTCP4, mutate: setByte(eth, 0x65), want: ParseBadIPv4},
		{name: "ipv4 total length below header", spec: parseTCP4, mutate: setUint16(eth+2, 19), want: ParseBadIPv4},
		{name: "ipv6 version 4", spec: parseUDP6, mutate: setByte(eth, 0x40), want: ParseBadIPv6},

		{name: "ipv4 more fragments", spec: parseTCP4, mutate: setUint16(eth+6, 0x2000), want: ParseFragment,
			check: func(t *testing.T, p *Packet) {
				if p.Proto != ProtocolTCP || p.Src != mustAddr("198.18.1.7").As16() || p.DstPort != 0 {
					t.Errorf("fragment: proto %d src %v dport %d", p.Proto, p.Src, p.DstPort)
				}
			}},
		{name: "ipv4 fragment offset", spec: parseTCP4, mutate: setUint16(eth+6, 0x4001), want: ParseFragment},
		{name: "ipv6 fragment header", spec: parseUDP6, mutate: setByte(eth+6, IPv6FragmentHeader), want: ParseFragment},

		{name: "tcp data offset 16", spec: parseTCP4, mutate: setByte(eth+20+12, 4<<4), want: ParseBadTCP},
		{name: "tcp data offset past segment", spec: parseTCP4, mutate: setByte(eth+20+12, 15<<4), want: ParseBadTCP},
		{name: "tcp segment shorter than header", spec: parseTCP4, mutate: setUint16(eth+2, 20+19), want: ParseBadTCP},
		{name: "udp length past datagram", spec: parseUDP6, mutate: setUint16(eth+40+4, 14), want: ParseBadUDP},
		{name: "udp length below header", spec: parseUDP6, mutate: setUint16(eth+40+4, 7), want: ParseBadUDP},
		{name: "udp datagram shorter than header", spec: parseUDP6, mutate: setUint16(eth+4, 7), want: ParseBadUDP},
		{name: "icmp shorter than header", spec: parseICMP, mutate: setUint16(eth+2, 20+7), want: ParseBadICMP},

		{name: "ipip", spec: parseTCP4, mutate: setByte(eth+9, ProtocolIPIP), want: ParseUnsupportedL4,
			check: func(t *testing.T, p *Packet) {
				if p.Proto != ProtocolIPIP || p.L4Off != eth+20 || p.L4Len != 37 {
					t.Errorf("proto %d L4Off %d L4Len %d", p.Proto, p.L4Off, p.L4Len)
				}
			}},
		{name: "gre", spec: parseTCP4, mutate: setByte(eth+9, 47), want: ParseUnsupportedL4},
		{name: "icmpv6 inside ipv4", spec: parseTCP4, mutate: setByte(eth+9, ProtocolICMPv6), want: ParseUnsupportedL4},
		{name: "ipv6 hop-by-hop", spec: parseUDP6, mutate: setByte(eth+6, 0), want: ParseUnsupportedL4},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := buildFrame(t, tc.spec)
			if tc.mutate != nil {
				frame = tc.mutate(frame)
			}
			var p Packet
			p.SrcPort = 99 // Parse must reset state left by the previous frame
			got := p.Parse(frame)
			if got != tc.want {
				t.Fatalf("Parse = %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, &p)
			}
			if got == ParseOK {
				checkParsedInBounds(t, &p) // rewrites the frame: runs last
			}
		})
	}
}

func TestParseResultNames(t *testing.T) {
	seen := map[string]bool{}
	for r := range ParseResult(NumParseResults) {
		name := r.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("ParseResult(%d) has name %q", r, name)
		}
		seen[name] = true
	}
	if ParseTooShort.String() != "too_short" || ParseNotIP.String() != "not_ip" {
		t.Errorf("names %q %q", ParseTooShort, ParseNotIP)
	}
	if ParseResult(NumParseResults).String() != "unknown" {
		t.Error("out-of-range result has a name")
	}
}

// checkParsedInBounds uses every accessor a dataplane may call after ParseOK,
// rewrites included; any out-of-bounds access panics and fails the test.
func checkParsedInBounds(t testing.TB, p *Packet) {
	t.Helper()
	if p.L3Off < EthernetMinimumSize || p.L4Off < p.L3Off || p.L4Len < 0 || p.L4Off+p.L4Len > len(p.Frame) {
		t.Fatalf("offsets out of bounds: L3 %d L4 %d len %d frame %d", p.L3Off, p.L4Off, p.L4Len, len(p.Frame))
	}
	eth := p.Ethernet()
	eth.SetSourceAddress(eth.DestinationAddress())
	if p.IsIPv6 {
		ip := p.IPv6()
		if !ip.IsValid(len(ip)) || len(ip.Payload()) != p.L4Len || ip.SourceAddress() != p.Src {
			t.Fatalf("IPv6 view disagrees with Packet")
		}
		ip.SetHopLimit(ip.HopLimit() - 1)
		ip.SetSourceAddress(ip.DestinationAddress())
	} else {
		ip := p.IPv4()
		if !ip.IsValid(len(ip)) || len(ip.Payload()) != p.L4Len || As16From4(ip.SourceAddress()) != p.Src {
			t.Fatalf("IPv4 view disagrees with Packet")
		}
		_ = ip.CalculateChecksum()
		ip.DecTTLWithChecksumUpdate()
		ip.SetSourceAddressWithChecksumUpdate(ip.DestinationAddress())
	}
	src, dst := p.Src, p.Dst
	switch p.Proto {
	case ProtocolTCP:
		tcp := p.TCP()
		if !tcp.IsValid(p.L4Len) || tcp.SourcePort() != p.SrcPort || tcp.Flags() != p.TCPFlags {
			t.Fatalf("TCP view disagrees with Packet")
		}
		_, _ = tcp.SequenceNumber(), tcp.AckNumber()
		_, _ = tcp.Options(), tcp.Payload()
		tcp.MSS()
		tcp.SetMSSWithChecksumUpdate(1400)
		tcp.SetSourcePortWithChecksumUpdate(1)
		tcp.SetDestinationPortWithChecksumUpdate(2)
		tcp.UpdateChecksumPseudoHeaderAddress(src[:], dst[:])
		_ = tcp.CalculateChecksum(0)
	case ProtocolUDP:
		udp := p.UDP()
		if !udp.IsValid(p.L4Len) || udp.DestinationPort() != p.DstPort {
			t.Fatalf("UDP view disagrees with Packet")
		}
		_ = udp.Payload()
		udp.SetSourcePortWithChecksumUpdate(1)
		udp.SetDestinationPortWithChecksumUpdate(2)
		udp.UpdateChecksumPseudoHeaderAddress(src[:], dst[:])
	case ProtocolICMPv4:
		icmp := p.ICMPv4()
		if !icmp.IsValid(p.L4Len) {
			t.Fatalf("ICMPv4 view invalid")
		}
		_, _, _, _ = icmp.Type(), icmp.Code(), icmp.IsError(), icmp.Payload()
		icmp.SetIdentWithChecksumUpdate(icmp.Ident() + 1)
	case ProtocolICMPv6:
		icmp := p.ICMPv6()
		if !icmp.IsValid(p.L4Len) {
			t.Fatalf("ICMPv6 view invalid")
		}
		_, _, _, _ = icmp.Type(), icmp.Code(), icmp.IsError(), icmp.Payload()
		icmp.SetIdentWithChecksumUpdate(icmp.Ident() + 1)
		icmp.UpdateChecksumPseudoHeaderAddress(src[:], dst[:])
	default:
		t.Fatalf("ParseOK with protocol %d", p.Proto)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases() {
		frame := buildFrame(f, tc.spec)
		if tc.mutate != nil {
			frame = tc.mutate(frame)
		}
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		r := p.Parse(frame)
		if r >= NumParseResults {
			t.Fatalf("Parse returned %d", r)
		}
		switch r {
		case ParseOK:
			checkParsedInBounds(t, &p)
		case ParseFragment, ParseUnsupportedL4, ParseBadTCP, ParseBadUDP, ParseBadICMP:
			// The L3 view is set and in bounds for these.
			if p.L4Off+p.L4Len > len(frame) {
				t.Fatalf("%v: L4 past frame", r)
			}
			if p.IsIPv6 {
				_ = p.IPv6().Payload()
			} else {
				_ = p.IPv4().Payload()
			}
		}
	})
}

func TestParseAllocatesNothing(t *testing.T) {
	frames := [][]byte{buildFrame(t, parseTCP4), buildFrame(t, parseUDP6), buildFrame(t, parseICMP)}
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			p.Parse(f)
		}
	}); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec frameSpec
	}{
		{"ipv4-tcp", parseTCP4},
		{"ipv4-tcp-syn-60", parseSYN4},
		{"ipv6-udp", parseUDP6},
		{"qinq-ipv6-udp", frameSpec{vlans: []uint16{10, 20}, src: parseUDP6.src, dst: parseUDP6.dst, proto: ProtocolUDP, sport: 1, dport: 53, ttl: 64}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			frame := buildFrame(b, bc.spec)
			var p Packet
			b.ReportAllocs()
			for b.Loop() {
				if p.Parse(frame) != ParseOK {
					b.Fatal("parse failed")
				}
			}
		})
	}
}
