package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// icmpPkt describes an ICMP message frame: an error quoting the first
// quoteLen bytes of quote's IP packet, or (quote zero) an echo with id and
// seq; built by gopacket with every checksum computed.
type icmpPkt struct {
	srcMAC, dstMAC header.MAC
	src, dst       string
	typ, code      uint8
	word           uint32 // the second word: unused, MTU, or id<<16|seq
	quote          pkt
	quoteLen       int
	payload        []byte // echo data
	ttl            uint8  // 0: 60
}

func (e icmpPkt) frame(tb testing.TB) []byte {
	tb.Helper()
	var body []byte
	if e.quote.src != "" {
		var q header.Packet
		qf := e.quote.frame(tb)
		if q.Parse(qf) != header.ParseOK {
			tb.Fatal("quoted packet does not parse")
		}
		body = qf[q.L3Off : q.L4Off+q.L4Len]
		body = body[:min(len(body), e.quoteLen)]
	} else {
		body = e.payload
	}
	ttl := e.ttl
	if ttl == 0 {
		ttl = 60
	}
	src, dst := addr(e.src), addr(e.dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(e.srcMAC[:]), DstMAC: net.HardwareAddr(e.dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	word := binary.BigEndian.AppendUint32(nil, e.word)
	var ls []gopacket.SerializableLayer
	if src.Is4() {
		ls = []gopacket.SerializableLayer{eth,
			&layers.IPv4{Version: 4, TTL: ttl, Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(e.typ, e.code), Id: uint16(e.word >> 16), Seq: uint16(e.word)},
			gopacket.Payload(body)}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(e.typ, e.code)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		ls = []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload(append(word, body...))}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

const (
	unreachable     = header.ICMPv4DestinationUnreachable
	portUnreachable = 3
	fragNeeded      = header.ICMPv4CodeFragmentationNeeded
)

// TestICMPErrorsNAT: errors about a NAT connection from either side reach
// the other end translated (quote, outer addresses, checksums), as the
// table in icmp.go says; errors about nothing known are counted drops.
func TestICMPErrorsNAT(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	// What the director sent: the SYN-ACK to the client, the UDP request
	// and the IPv6 SYN-ACK.
	toClient := natSyn.reply().with(func(p *pkt) { p.flags = synAck }).routed()
	fromReal := toClient.with(func(p *pkt) { p.src, p.sport = "198.18.2.2", 8080 })
	udpToReal := natUDP.toReal("198.18.2.3", 5353, realMAC3).routed()
	toClient6 := nat6Syn.reply().with(func(p *pkt) { p.flags = synAck }).routed()
	fromReal6 := toClient6.with(func(p *pkt) { p.src, p.sport = "2001:2:2::2", 8080 })

	fragFromRouter := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.20",
		typ: unreachable, code: fragNeeded, word: 1400, quote: toClient, quoteLen: 28}
	unreachFromReal := icmpPkt{srcMAC: realMAC3, dstMAC: portMAC1, src: "198.18.2.3", dst: "198.18.1.5",
		typ: unreachable, code: portUnreachable, quote: udpToReal, quoteLen: 1 << 16}
	tooBig6 := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "2001:2:1::fe", dst: "2001:2::20",
		typ: header.ICMPv6PacketTooBig, word: 1400, quote: toClient6, quoteLen: 1 << 16}
	unknown := fragFromRouter.with(func(e *icmpPkt) { e.quote.dport = 9 })
	shortQuote := fragFromRouter.with(func(e *icmpPkt) { e.quoteLen = 24 })
	redirect := fragFromRouter.with(func(e *icmpPkt) { e.typ, e.code = 5, 1 })

	runSteps(t, d, []step{
		{name: "SYN", in: natSyn.frame(t), act: actionTransmit, arg: 1, want: natSyn.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t)},
		{name: "UDP request", in: natUDP.frame(t), act: actionTransmit, arg: 1, want: udpToReal.frame(t)},
		{name: "IPv6 SYN", in: nat6Syn.frame(t), act: actionTransmit, arg: 1, want: nat6Syn.toReal("2001:2:2::2", 8080, realMAC6).routed().frame(t)},
		{name: "fragmentation needed from the client side, 8 bytes of TCP quoted, goes to the real server", in: fragFromRouter.frame(t),
			act: actionTransmit, arg: 1, want: fragFromRouter.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.dst, e.quote = portMAC1, realMAC2, "198.18.2.2", fromReal
			}).frame(t)},
		{name: "port unreachable from the real server goes to the client from the VIP", port: 1, in: unreachFromReal.frame(t),
			act: actionTransmit, arg: 0, want: unreachFromReal.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.src = portMAC0, clientMAC, "198.18.0.20"
				e.quote.dst, e.quote.dport = "198.18.0.20", 53
			}).frame(t)},
		{name: "IPv6 packet too big goes to the real server", in: tooBig6.frame(t), act: actionTransmit, arg: 1,
			want: tooBig6.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.dst, e.quote = portMAC1, realMAC6, "2001:2:2::2", fromReal6
			}).frame(t)},
		{name: "an error about no connection", in: unknown.frame(t), drop: "icmp_no_conn"},
		{name: "an error quoting 4 bytes of TCP", in: shortQuote.frame(t), drop: "icmp_bad_quote"},
		{name: "a redirect", in: redirect.frame(t), drop: "icmp_unhandled"},
	})
	d.Workers[0].publish()
	if n := d.Workers[0].Stats.Count(CountICMPErrorsTranslated); n != 3 {
		t.Fatalf("%d errors translated, want 3", n)
	}
}

// with returns e changed by fn.
func (e icmpPkt) with(fn func(*icmpPkt)) icmpPkt {
	fn(&e)
	return e
}

// TestICMPErrorsFullNAT: from the client side an error goes to the real
// server from the local address, about the real server's own packet; from
// the real side it goes to the client from the VIP; IPv4 and IPv6.
func TestICMPErrorsFullNAT(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1024)
	toReal := fnatSyn.viaLocal("198.18.3.1", 1024, "198.18.2.2", 8080, realMAC2)
	realSent := toReal.fromReal(synAck).with(func(p *pkt) { p.routedBy = 7 })
	toClient := realSent.with(func(p *pkt) { p.src, p.sport, p.dst, p.dport = "198.18.0.30", 80, "198.18.1.5", 40001 })

	fromClientSide := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.30",
		typ: header.ICMPv4TimeExceeded, quote: toClient, quoteLen: 1 << 16}
	fromRealSide := icmpPkt{srcMAC: realMAC2, dstMAC: portMAC1, src: "198.18.2.2", dst: "198.18.3.1",
		typ: unreachable, code: fragNeeded, word: 1300, quote: toReal, quoteLen: 28}
	runSteps(t, d, []step{
		{name: "SYN", in: fnatSyn.frame(t), act: actionTransmit, arg: 1, want: toReal.frame(t)},
		{name: "time exceeded from the client side", in: fromClientSide.frame(t), act: actionTransmit, arg: 1,
			want: fromClientSide.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.src, e.dst, e.quote = portMAC1, realMAC2, "198.18.3.1", "198.18.2.2", realSent
			}).frame(t)},
		{name: "fragmentation needed from the real side", port: 1, in: fromRealSide.frame(t), act: actionTransmit, arg: 0,
			want: fromRealSide.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.src, e.dst = portMAC0, clientMAC, "198.18.0.30", "198.18.1.5"
				e.quote.src, e.quote.sport, e.quote.dst, e.quote.dport = "198.18.1.5", 40001, "198.18.0.30", 80
			}).frame(t)},
	})

	// IPv6: packet too big from the client side, unreachable from the real side.
	toReal6 := fnat6Syn.viaLocal("2001:2:3::1", 1024, "2001:2:2::2", 8080, realMAC6)
	realSent6 := toReal6.fromReal(synAck)
	tooBig6 := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "2001:2:1::fe", dst: "2001:2::30", typ: header.ICMPv6PacketTooBig,
		word: 1400, quote: realSent6.with(func(p *pkt) { p.src, p.sport, p.dst, p.dport = "2001:2::30", 80, "2001:2:1::5", 40003 }),
		quoteLen: 1 << 16}
	unreach6 := icmpPkt{srcMAC: realMAC6, dstMAC: portMAC1, src: "2001:2:2::2", dst: "2001:2:3::1",
		typ: header.ICMPv6DestinationUnreachable, code: 4, quote: toReal6, quoteLen: 1 << 16}
	runSteps(t, d, []step{
		{name: "IPv6 SYN", in: fnat6Syn.frame(t), act: actionTransmit, arg: 1, want: toReal6.frame(t)},
		{name: "IPv6 packet too big from the client side", in: tooBig6.frame(t), act: actionTransmit, arg: 1,
			want: tooBig6.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.src, e.dst, e.quote = portMAC1, realMAC6, "2001:2:3::1", "2001:2:2::2", realSent6
			}).frame(t)},
		{name: "IPv6 unreachable from the real side", port: 1, in: unreach6.frame(t), act: actionTransmit, arg: 0,
			want: unreach6.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.src, e.dst = portMAC0, clientMAC, "2001:2::30", "2001:2:1::5"
				e.quote.src, e.quote.sport, e.quote.dst, e.quote.dport = "2001:2:1::5", 40003, "2001:2::30", 80
			}).frame(t)},
	})
}

// TestICMPErrorsDRAndTunnel: an error about a DR or TUN connection's reply
// (the real server's own packet) goes to the real server unchanged: DR
// re-addressed at layer 2, TUN encapsulated.
func TestICMPErrorsDRAndTunnel(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	drErr := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.10",
		typ: unreachable, code: fragNeeded, word: 1400, quote: drSyn.reply().with(func(p *pkt) { p.flags = synAck }), quoteLen: 28}
	runSteps(t, d, []step{
		{name: "DR SYN", in: drSyn.frame(t), act: actionTransmit, arg: 1, want: drSyn.with(func(p *pkt) { p.srcMAC, p.dstMAC = portMAC1, realMAC2 }).frame(t)},
		{name: "DR error", in: drErr.frame(t), act: actionTransmit, arg: 1,
			want: drErr.with(func(e *icmpPkt) { e.srcMAC, e.dstMAC = portMAC1, realMAC2 }).frame(t)},
	})

	td := newTunnelDataplane(t, []int{1500, 1500})
	w := td.Workers[0]
	if v, _ := processInChunk(w, tunSyn.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatalf("tunnel SYN dropped: %v", dropCounts(w))
	}
	in := drErr.with(func(e *icmpPkt) {
		e.dst = "198.18.0.30"
		e.quote = tunSyn.reply().with(func(p *pkt) { p.flags = synAck })
	}).frame(t)
	v, out := processInChunk(w, in, 0, tunnelHeadroom)
	if v.action != actionTransmit || v.port != 1 {
		t.Fatalf("tunnel error: verdict %+v, drops %v", v, dropCounts(w))
	}
	var outer header.Packet
	outer.Parse(out)
	if outer.Proto != header.ProtocolIPIP || outer.Dst != addr("198.18.2.2").As16() {
		t.Fatalf("tunnel error not encapsulated to the real server: %s", dump(out))
	}
	if inner := out[outer.L4Off:]; !bytes.Equal(inner, in[header.EthernetMinimumSize:]) {
		t.Fatalf("encapsulated error differs from the one received\n got %x\nwant %x", inner, in[header.EthernetMinimumSize:])
	}
}

// TestICMPErrorOwner: with two workers, an error arriving on the worker
// that does not own its connection is handed to the one that does, which
// translates it.
func TestICMPErrorOwner(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 2, 1024)
	c16 := addr("198.18.1.5").As16()
	owner := d.Workers[0].table.owners.ownerOf(&c16, 128, 2)
	other := 1 - owner
	toClient := natSyn.reply().with(func(p *pkt) { p.flags = synAck }).routed()
	e := icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.20",
		typ: unreachable, code: fragNeeded, word: 1400, quote: toClient, quoteLen: 28}
	runSteps(t, d, []step{
		{name: "SYN at its owner", worker: owner, in: natSyn.frame(t), act: actionTransmit, arg: 1,
			want: natSyn.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t)},
		{name: "error at the other worker", worker: other, in: e.frame(t), act: actionHandoff, arg: owner},
		{name: "error at the owner", worker: owner, in: e.frame(t), act: actionTransmit, arg: 1,
			want: e.with(func(e *icmpPkt) {
				e.srcMAC, e.dstMAC, e.dst = portMAC1, realMAC2, "198.18.2.2"
				e.quote.src, e.quote.sport = "198.18.2.2", 8080
			}).frame(t)},
	})
}

// TestEchoToVIP: an echo request to a VIP is answered in place from the
// VIP, back the way it came; to any other address it is dropped.
func TestEchoToVIP(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	ping := icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
		typ: header.ICMPv4EchoRequest, word: 0x1234<<16 | 7, payload: []byte("abcdefgh")}
	ping6 := ping.with(func(e *icmpPkt) { e.src, e.dst, e.typ = "2001:2:1::5", "2001:2::20", header.ICMPv6EchoRequest })
	answer := func(e icmpPkt, typ uint8) []byte {
		e.srcMAC, e.dstMAC, e.src, e.dst, e.typ, e.ttl = e.dstMAC, e.srcMAC, e.dst, e.src, typ, icmpTTL
		return e.frame(t)
	}
	runSteps(t, d, []step{
		{name: "ping", in: ping.frame(t), act: actionTransmit, arg: 0, want: answer(ping, header.ICMPv4EchoReply)},
		{name: "IPv6 ping", in: ping6.frame(t), act: actionTransmit, arg: 0, want: answer(ping6, header.ICMPv6EchoReply)},
		{name: "ping to no VIP", in: ping.with(func(e *icmpPkt) { e.dst = "198.18.0.99" }).frame(t), drop: "icmp_unhandled"},
	})
	d.Workers[0].publish()
	if n := d.Workers[0].Stats.Count(CountEchoReplies); n != 2 {
		t.Fatalf("%d echo replies counted, want 2", n)
	}
}

// TestTTLExpiresAtTheDirector: a NAT packet that arrives with TTL (hop
// limit) 1 goes no further; its sender gets time exceeded from the VIP,
// quoting it, within the worker's budget.
func TestTTLExpiresAtTheDirector(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	for _, c := range []struct {
		name string
		in   pkt
		vip  string
	}{
		{"IPv4", natSyn.with(func(p *pkt) { p.routedBy = 63 }), "198.18.0.20"},
		{"IPv6", nat6Syn.with(func(p *pkt) { p.routedBy = 63 }), "2001:2::20"},
	} {
		in := c.in.frame(t)
		v, out := processInChunk(w, in, 0, tunnelHeadroom)
		if v.action != actionTransmit || v.port != 0 {
			t.Fatalf("%s: verdict %+v, want the answer back on port 0 (drops %v)", c.name, v, dropCounts(w))
		}
		var orig, got header.Packet
		orig.Parse(in)
		quoteLen := orig.IPv4().HeaderLength() + 8
		typ := uint8(header.ICMPv4TimeExceeded)
		if orig.IsIPv6 {
			quoteLen, typ = orig.L4Off-orig.L3Off+orig.L4Len, header.ICMPv6TimeExceeded
		}
		want := icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: c.vip, dst: c.in.src, typ: typ, ttl: icmpTTL,
			quote: c.in, quoteLen: quoteLen}.frame(t)
		if got.Parse(out) != header.ParseOK {
			t.Fatalf("%s: answer does not parse", c.name)
		}
		if !orig.IsIPv6 {
			got.IPv4()[1] = 0 // the director sends ICMP as internetwork control (TOS 0xc0); gopacket's has 0
			got.IPv4().SetChecksum(got.IPv4().CalculateChecksum())
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("%s: time exceeded\n got %s\nwant %s", c.name, dump(out), dump(want))
		}
	}
	if drops := dropCounts(w)["ttl_exceeded"]; drops != 2 {
		t.Fatalf("ttl_exceeded %d, want 2", drops)
	}
	// The budget: a burst, then nothing until the clock moves on.
	expired := natSyn.with(func(p *pkt) { p.routedBy = 63 }).frame(t)
	sent := 0
	for range 2 * icmpBurst {
		if v, _ := processInChunk(w, expired, 0, tunnelHeadroom); v.action == actionTransmit {
			sent++
		}
	}
	if sent != icmpBurst-2 {
		t.Fatalf("%d answers in a burst, want %d", sent, icmpBurst-2)
	}
	d.advance(10 * time.Millisecond)
	if v, _ := processInChunk(w, expired, 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatal("no answer after the budget refilled")
	}
}

// TestTunnelAnswersPacketTooBig: an IPv6 packet too large to encapsulate
// gets ICMPv6 packet too big from the VIP with the MTU left for it.
func TestTunnelAnswersPacketTooBig(t *testing.T) {
	d := newTunnelDataplane(t, []int{1500, 1400})
	w := d.Workers[0]
	big := tun6in6.with(func(p *pkt) { p.flags = pshAck; p.payload = make([]byte, 1400) })
	processInChunk(w, tun6in6.frame(t), 0, tunnelHeadroom)
	in := big.frame(t)
	v, out := processInChunk(w, in, 0, tunnelHeadroom)
	if v.action != actionTransmit || v.port != 0 {
		t.Fatalf("verdict %+v, want the answer on port 0 (drops %v)", v, dropCounts(w))
	}
	want := icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: "2001:2::30", dst: "2001:2:1::5", typ: header.ICMPv6PacketTooBig,
		word: 1400 - 40, ttl: icmpTTL, quote: big, quoteLen: icmpv6QuoteMax}.frame(t)
	if !bytes.Equal(out, want) {
		t.Fatalf("packet too big\n got %s\nwant %s", dump(out), dump(want))
	}
}

// TestICMPAllocs: translating an error, answering an echo and answering an
// expired TTL allocate nothing.
func TestICMPAllocs(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	w.processFrame(natSyn.frame(t), 0)
	frames := map[string][]byte{
		"error": icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.20", typ: unreachable, code: fragNeeded,
			word: 1400, quote: natSyn.reply().with(func(p *pkt) { p.flags = synAck }), quoteLen: 28}.frame(t),
		"echo": icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
			typ: header.ICMPv4EchoRequest, payload: []byte("ping")}.frame(t),
		"ttl": natSyn.with(func(p *pkt) { p.flags = ack; p.routedBy = 63 }).frame(t),
	}
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	for name, f := range frames {
		if a := testing.AllocsPerRun(100, func() {
			copy(chunk[tunnelHeadroom:], f)
			w.processIn(chunk, tunnelHeadroom, len(f), 0)
		}); a != 0 {
			t.Errorf("%s: %v allocations per packet", name, a)
		}
	}
}

// BenchmarkICMP: ns per translated NAT error, echo reply and expired TTL
// (each copies its 60-100 byte frame in first, as benchOneFrame does).
func BenchmarkICMP(b *testing.B) {
	d := newMemDataplane(b, testSpec(), 1, 1024)
	w := d.Workers[0]
	w.processFrame(natSyn.frame(b), 0)
	b.Run("nat_error", func(b *testing.B) {
		benchOneFrame(b, w, icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.20", typ: unreachable,
			code: fragNeeded, word: 1400, quote: natSyn.reply().with(func(p *pkt) { p.flags = synAck }), quoteLen: 28}.frame(b), 0)
	})
	// What NAT's forwarding pays per packet for item 4 and the egress check:
	// the TTL decrement with its checksum update and the MTU comparison.
	b.Run("route_hop", func(b *testing.B) {
		frame := natSyn.with(func(p *pkt) { p.flags = ack }).frame(b)
		pkt := &packet{buf: frame, size: len(frame)}
		pkt.hdr.Parse(frame)
		tuple := conntrack.Tuple{Src: pkt.hdr.Src, Dst: pkt.hdr.Dst, SrcPort: pkt.hdr.SrcPort, DstPort: pkt.hdr.DstPort, Proto: pkt.hdr.Proto}
		ref, dir := w.conns.Lookup(&tuple)
		c := w.conns.Conn(ref)
		ip := pkt.hdr.IPv4()
		b.ReportAllocs()
		for b.Loop() {
			ip[8] = 64
			if _, ok := w.routeHop(pkt, c, dir); !ok {
				b.Fatal("stopped")
			}
		}
	})
	b.Run("echo", func(b *testing.B) {
		benchOneFrame(b, w, icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
			typ: header.ICMPv4EchoRequest, payload: make([]byte, 56)}.frame(b), 0)
	})
}

// TestNATEgressMTU: a NAT packet for the real server that the real
// servers' port (MTU 1400 here) cannot carry is answered from the VIP with
// fragmentation needed (IPv4 with DF) or packet too big (IPv6) advertising
// that MTU; one that fits is forwarded.
func TestNATEgressMTU(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, []int{1500, 1400})
	d.beginBatch()
	w := d.Workers[0]
	fits := natUDP.with(func(p *pkt) { p.payload = make([]byte, 1400-28) })
	tooBig := natUDP.with(func(p *pkt) { p.payload = make([]byte, 1400-28+1); p.sport++ })
	tooBig6 := nat6Syn.with(func(p *pkt) { p.payload = make([]byte, 1400-60+1) })
	if v, _ := processInChunk(w, fits.frame(t), 0, tunnelHeadroom); v.action != actionTransmit || v.port != 1 {
		t.Fatalf("a packet that fits: verdict %+v, drops %v", v, dropCounts(w))
	}
	for _, c := range []struct {
		name string
		in   pkt
		want icmpPkt
	}{
		{"IPv4 with DF", tooBig, icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: "198.18.0.20", dst: "198.18.1.5",
			typ: unreachable, code: fragNeeded, word: 1400, ttl: icmpTTL, quote: tooBig.routed(), quoteLen: 28}},
		{"IPv6", tooBig6, icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: "2001:2::20", dst: "2001:2:1::5",
			typ: header.ICMPv6PacketTooBig, word: 1400, ttl: icmpTTL, quote: tooBig6.routed(), quoteLen: icmpv6QuoteMax}},
	} {
		before := dropCounts(w)["egress_too_large"]
		v, out := processInChunk(w, c.in.frame(t), 0, tunnelHeadroom)
		if v.action != actionTransmit || v.port != 0 {
			t.Fatalf("%s: verdict %+v, want the answer on port 0 (drops %v)", c.name, v, dropCounts(w))
		}
		checkAnswer(t, c.name, out, c.want)
		if dropCounts(w)["egress_too_large"] != before+1 {
			t.Fatalf("%s: egress_too_large not counted", c.name)
		}
	}
}

// checkAnswer compares an ICMP error the director built with want, byte
// for byte but the TOS (0xc0, as the kernel's ICMP; gopacket's is 0).
func checkAnswer(t *testing.T, name string, out []byte, want icmpPkt) {
	t.Helper()
	var got header.Packet
	got.Parse(out)
	if !got.IsIPv6 {
		got.IPv4()[1] = 0
		got.IPv4().SetChecksum(got.IPv4().CalculateChecksum())
	}
	if w := want.frame(t); !bytes.Equal(out, w) {
		t.Fatalf("%s:\n got %s\nwant %s", name, dump(out), dump(w))
	}
}

// TestTTLExpiresOnAFullNATReply: a real server's reply that arrives with
// TTL 1 is answered from the local address it was sent to.
func TestTTLExpiresOnAFullNATReply(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1024)
	w := d.Workers[0]
	toReal := fnatSyn.viaLocal("198.18.3.1", 1024, "198.18.2.2", 8080, realMAC2)
	if v := w.processFrame(fnatSyn.frame(t), 0); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	reply := toReal.fromReal(synAck).with(func(p *pkt) { p.routedBy = 63 })
	v, out := processInChunk(w, reply.frame(t), 1, tunnelHeadroom)
	if v.action != actionTransmit || v.port != 1 {
		t.Fatalf("verdict %+v, want the answer back on port 1 (drops %v)", v, dropCounts(w))
	}
	var got header.Packet
	got.Parse(out)
	if got.Src != addr("198.18.3.1").As16() || got.Dst != addr("198.18.2.2").As16() || got.ICMPv4().Type() != header.ICMPv4TimeExceeded {
		t.Fatalf("answer %s, want time exceeded from the local address to the real server", dump(out))
	}
}
