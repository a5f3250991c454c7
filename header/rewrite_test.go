package header

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// natRule is a rewrite as the dataplane applies it: invalid addresses and
// zero ports/idents are left alone.
type natRule struct {
	src, dst     netip.Addr
	sport, dport uint16
	icmpIdent    uint16
	decTTL       bool
}

// applyNAT rewrites a parsed packet the way a NAT/FULLNAT worker does: IP
// addresses with the IP-header update, the L4 pseudo-header update, then ports.
func applyNAT(p *Packet, r *natRule) {
	if p.IsIPv6 {
		ip := p.IPv6()
		if r.src.IsValid() {
			old, addr := ip.SourceAddress(), r.src.As16()
			ip.SetSourceAddress(addr)
			updatePseudoHeader(p, old[:], addr[:])
		}
		if r.dst.IsValid() {
			old, addr := ip.DestinationAddress(), r.dst.As16()
			ip.SetDestinationAddress(addr)
			updatePseudoHeader(p, old[:], addr[:])
		}
		if r.decTTL {
			ip.SetHopLimit(ip.HopLimit() - 1)
		}
	} else {
		ip := p.IPv4()
		if r.src.IsValid() {
			old, addr := ip.SourceAddress(), r.src.As4()
			ip.SetSourceAddressWithChecksumUpdate(addr)
			updatePseudoHeader(p, old[:], addr[:])
		}
		if r.dst.IsValid() {
			old, addr := ip.DestinationAddress(), r.dst.As4()
			ip.SetDestinationAddressWithChecksumUpdate(addr)
			updatePseudoHeader(p, old[:], addr[:])
		}
		if r.decTTL {
			ip.DecTTLWithChecksumUpdate()
		}
	}
	switch p.Proto {
	case ProtocolTCP:
		tcp := p.TCP()
		if r.sport != 0 {
			tcp.SetSourcePortWithChecksumUpdate(r.sport)
		}
		if r.dport != 0 {
			tcp.SetDestinationPortWithChecksumUpdate(r.dport)
		}
	case ProtocolUDP:
		udp := p.UDP()
		if r.sport != 0 {
			udp.SetSourcePortWithChecksumUpdate(r.sport)
		}
		if r.dport != 0 {
			udp.SetDestinationPortWithChecksumUpdate(r.dport)
		}
	case ProtocolICMPv4:
		if r.icmpIdent != 0 {
			p.ICMPv4().SetIdentWithChecksumUpdate(r.icmpIdent)
		}
	case ProtocolICMPv6:
		if r.icmpIdent != 0 {
			p.ICMPv6().SetIdentWithChecksumUpdate(r.icmpIdent)
		}
	}
}

func updatePseudoHeader(p *Packet, old, addr []byte) {
	switch p.Proto {
	case ProtocolTCP:
		p.TCP().UpdateChecksumPseudoHeaderAddress(old, addr)
	case ProtocolUDP:
		p.UDP().UpdateChecksumPseudoHeaderAddress(old, addr)
	case ProtocolICMPv6:
		p.ICMPv6().UpdateChecksumPseudoHeaderAddress(old, addr)
	}
}

// TestRewriteFixtures rewrites gopacket-built frames with the incremental
// setters and compares them byte for byte with frames gopacket builds, with
// fresh checksums, from the rewritten fields.
func TestRewriteFixtures(t *testing.T) {
	var (
		client4, vip4, real4, local4 = mustAddr("198.18.1.7"), mustAddr("198.18.0.10"), mustAddr("198.18.2.2"), mustAddr("198.18.3.1")
		client6, vip6, real6, local6 = mustAddr("2001:2::1:7"), mustAddr("2001:2::10"), mustAddr("2001:2::2:2"), mustAddr("2001:2::3:1")
		body                         = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		odd                          = []byte("odd-length payload!")
	)
	tcp4 := frameSpec{src: client4, dst: vip4, proto: ProtocolTCP, sport: 40000, dport: 80, ttl: 64, payload: body}
	udp4 := frameSpec{src: client4, dst: vip4, proto: ProtocolUDP, sport: 5353, dport: 53, ttl: 64, payload: odd}
	tcp6 := frameSpec{src: client6, dst: vip6, proto: ProtocolTCP, sport: 40000, dport: 443, ttl: 64, payload: body}
	udp6 := frameSpec{src: client6, dst: vip6, proto: ProtocolUDP, sport: 5353, dport: 53, ttl: 64, payload: odd}

	with := func(s frameSpec, edit func(*frameSpec)) frameSpec { edit(&s); return s }

	tests := []struct {
		name string
		in   frameSpec
		rule natRule
		want frameSpec
	}{
		{"ipv4 tcp dnat", tcp4, natRule{dst: real4, dport: 8080},
			with(tcp4, func(s *frameSpec) { s.dst, s.dport = real4, 8080 })},
		{"ipv4 tcp snat reply", with(tcp4, func(s *frameSpec) { s.src, s.dst, s.sport, s.dport = real4, client4, 8080, 40000 }),
			natRule{src: vip4, sport: 80},
			with(tcp4, func(s *frameSpec) { s.src, s.dst, s.sport, s.dport = vip4, client4, 80, 40000 })},
		{"ipv4 tcp fullnat and ttl", tcp4, natRule{src: local4, dst: real4, sport: 61001, dport: 8080, decTTL: true},
			with(tcp4, func(s *frameSpec) { s.src, s.dst, s.sport, s.dport, s.ttl = local4, real4, 61001, 8080, 63 })},
		{"ipv4 options tcp mss odd payload", with(tcp4, func(s *frameSpec) { s.ipOptions, s.mss, s.payload = true, 1460, odd }),
			natRule{src: local4, dst: real4, sport: 61001, dport: 8080, decTTL: true},
			with(tcp4, func(s *frameSpec) {
				s.ipOptions, s.mss, s.payload = true, 1460, odd
				s.src, s.dst, s.sport, s.dport, s.ttl = local4, real4, 61001, 8080, 63
			})},
		{"ipv4 udp dnat", udp4, natRule{dst: real4, dport: 5300},
			with(udp4, func(s *frameSpec) { s.dst, s.dport = real4, 5300 })},
		{"ipv4 udp fullnat checksum 0 stays 0", with(udp4, func(s *frameSpec) { s.noUDPSum = true }),
			natRule{src: local4, dst: real4, sport: 61001, dport: 5300, decTTL: true},
			with(udp4, func(s *frameSpec) {
				s.noUDPSum = true
				s.src, s.dst, s.sport, s.dport, s.ttl = local4, real4, 61001, 5300, 63
			})},
		{"ipv6 tcp fullnat and hop limit", tcp6, natRule{src: local6, dst: real6, sport: 61001, dport: 8443, decTTL: true},
			with(tcp6, func(s *frameSpec) { s.src, s.dst, s.sport, s.dport, s.ttl = local6, real6, 61001, 8443, 63 })},
		{"ipv6 udp dnat", udp6, natRule{dst: real6, dport: 5300},
			with(udp6, func(s *frameSpec) { s.dst, s.dport = real6, 5300 })},
		{"vlan ipv4 tcp dnat", with(tcp4, func(s *frameSpec) { s.vlans = []uint16{100} }), natRule{dst: real4, dport: 8080},
			with(tcp4, func(s *frameSpec) { s.vlans, s.dst, s.dport = []uint16{100}, real4, 8080 })},
		{"qinq ipv6 udp snat", with(udp6, func(s *frameSpec) { s.vlans = []uint16{10, 20} }), natRule{src: local6, sport: 61001},
			with(udp6, func(s *frameSpec) { s.vlans, s.src, s.sport = []uint16{10, 20}, local6, 61001 })},
		{"padded 60-byte ipv4 syn dnat", with(tcp4, func(s *frameSpec) { s.tcpFlags, s.payload, s.padTo = TCPFlagSyn, nil, 60 }),
			natRule{dst: real4, dport: 8080, decTTL: true},
			with(tcp4, func(s *frameSpec) {
				s.tcpFlags, s.payload, s.padTo = TCPFlagSyn, nil, 60
				s.dst, s.dport, s.ttl = real4, 8080, 63
			})},
		{"ipv4 icmp echo fullnat", frameSpec{src: client4, dst: vip4, proto: ProtocolICMPv4, ttl: 64, icmpType: ICMPv4EchoRequest, icmpIdent: 77, payload: odd},
			natRule{src: local4, dst: real4, icmpIdent: 9001},
			frameSpec{src: local4, dst: real4, proto: ProtocolICMPv4, ttl: 64, icmpType: ICMPv4EchoRequest, icmpIdent: 9001, payload: odd}},
		{"ipv6 icmp echo fullnat", frameSpec{src: client6, dst: vip6, proto: ProtocolICMPv6, ttl: 64, icmpType: ICMPv6EchoRequest, icmpIdent: 77, payload: odd},
			natRule{src: local6, dst: real6, icmpIdent: 9001, decTTL: true},
			frameSpec{src: local6, dst: real6, proto: ProtocolICMPv6, ttl: 63, icmpType: ICMPv6EchoRequest, icmpIdent: 9001, payload: odd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := buildFrame(t, tt.in)
			want := buildFrame(t, tt.want)
			var p Packet
			if r := p.Parse(frame); r != ParseOK {
				t.Fatalf("Parse = %v, want ok", r)
			}
			applyNAT(&p, &tt.rule)
			if !bytes.Equal(frame, want) {
				t.Errorf("rewritten frame differs\n got %s\nwant %s", hex.EncodeToString(frame), hex.EncodeToString(want))
			}
		})
	}
}

func TestRewriteAllocatesNothing(t *testing.T) {
	rules := []struct {
		spec frameSpec
		rule natRule
	}{
		{frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolTCP, sport: 1, dport: 80, ttl: 64},
			natRule{src: mustAddr("198.18.3.1"), dst: mustAddr("198.18.2.2"), sport: 2, dport: 8080, decTTL: true}},
		{frameSpec{src: mustAddr("2001:2::1"), dst: mustAddr("2001:2::10"), proto: ProtocolUDP, sport: 1, dport: 53, ttl: 64},
			natRule{src: mustAddr("2001:2::3:1"), dst: mustAddr("2001:2::2:2"), sport: 2, dport: 5300, decTTL: true}},
	}
	for _, r := range rules {
		frame := buildFrame(t, r.spec)
		var p Packet
		if got := p.Parse(frame); got != ParseOK {
			t.Fatalf("Parse = %v", got)
		}
		rule := r.rule
		if n := testing.AllocsPerRun(100, func() { applyNAT(&p, &rule) }); n != 0 {
			t.Errorf("%v rewrite allocates %v times per packet", r.spec.proto, n)
		}
		tcpMSS := TCP(make([]byte, 24))
		tcpMSS[tcpDataOffset] = 6 << 4
		copy(tcpMSS[20:], []byte{tcpOptionMSS, 4, 5, 0xb4})
		if n := testing.AllocsPerRun(100, func() {
			tcpMSS.SetMSSWithChecksumUpdate(1400)
			tcpMSS.SetSequenceNumberWithChecksumUpdate(7)
			tcpMSS.SetAckNumberWithChecksumUpdate(9)
		}); n != 0 {
			t.Errorf("TCP MSS/seq/ack setters allocate %v times", n)
		}
	}
}

func BenchmarkNATRewrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec frameSpec
		rule natRule
	}{
		{"ipv4-tcp-fullnat", frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolTCP, sport: 40000, dport: 80, ttl: 64, payload: make([]byte, 1400)},
			natRule{src: mustAddr("198.18.3.1"), dst: mustAddr("198.18.2.2"), sport: 61001, dport: 8080, decTTL: true}},
		{"ipv6-tcp-fullnat", frameSpec{src: mustAddr("2001:2::1:7"), dst: mustAddr("2001:2::10"), proto: ProtocolTCP, sport: 40000, dport: 80, ttl: 64, payload: make([]byte, 1400)},
			natRule{src: mustAddr("2001:2::3:1"), dst: mustAddr("2001:2::2:2"), sport: 61001, dport: 8080, decTTL: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			frame := buildFrame(b, bc.spec)
			// Alternate between two rules so every iteration really changes bytes.
			back := natRule{src: bc.spec.src, dst: bc.spec.dst, sport: bc.spec.sport, dport: bc.spec.dport}
			rules := [2]*natRule{&bc.rule, &back}
			var p Packet
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if p.Parse(frame) != ParseOK {
					b.Fatal("parse failed")
				}
				applyNAT(&p, rules[i&1])
				i++
			}
		})
	}
}
