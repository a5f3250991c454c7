package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/header"
)

// egressDataplane is the in-memory director with its ports' MTUs set.
func egressDataplane(tb testing.TB, mtus []int) *memDataplane {
	d := newMemDataplane(tb, testSpec(), 1, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, mtus)
	d.beginBatch()
	return d
}

// TestEgressMTUAnswers: in every method and direction a packet too big for
// its egress port, sent with DF (or IPv6), is answered to its own sender,
// about its own packet (a NAT reply: the real server's, before the
// rewrite), from the address it was sent to, advertising the port's MTU.
func TestEgressMTUAnswers(t *testing.T) {
	natReply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(ack)
	nat6Reply := nat6Syn.toReal("2001:2:2::2", 8080, realMAC6).fromReal(ack)
	fnatReply := fnatSyn.viaLocal("198.18.3.1", 1024, "198.18.2.2", 8080, realMAC2).fromReal(ack)
	for _, c := range []struct {
		name   string
		mtus   []int
		open   pkt // the connection's first packet, from the client
		in     pkt
		inPort int
		want   icmpPkt
	}{
		{"DR request, real servers' port 1400", []int{1500, 1400}, drSyn, drSyn.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }), 0,
			icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: "198.18.0.10", dst: "198.18.1.5", typ: unreachable, code: fragNeeded, word: 1400,
				ttl: icmpTTL, quote: drSyn.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }), quoteLen: 28}},
		{"NAT reply, clients' port 1400", []int{1400, 1500}, natSyn, natReply.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }), 1,
			icmpPkt{srcMAC: portMAC1, dstMAC: realMAC2, src: "198.18.0.20", dst: "198.18.2.2", typ: unreachable, code: fragNeeded, word: 1400,
				ttl: icmpTTL, quote: natReply.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }).routed(), quoteLen: 28}},
		{"NAT IPv6 reply, clients' port 1400", []int{1400, 1500}, nat6Syn, nat6Reply.with(func(p *pkt) { p.payload = make([]byte, 1400-60+1) }), 1,
			icmpPkt{srcMAC: portMAC1, dstMAC: realMAC6, src: "2001:2::20", dst: "2001:2:2::2", typ: header.ICMPv6PacketTooBig, word: 1400,
				ttl: icmpTTL, quote: nat6Reply.with(func(p *pkt) { p.payload = make([]byte, 1400-60+1) }).routed(), quoteLen: icmpv6QuoteMax}},
		// FULLNAT: the real server sent its reply to the local address, which answers.
		{"FULLNAT reply, clients' port 1400", []int{1400, 1500}, fnatSyn, fnatReply.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }), 1,
			icmpPkt{srcMAC: portMAC1, dstMAC: realMAC2, src: "198.18.3.1", dst: "198.18.2.2", typ: unreachable, code: fragNeeded, word: 1400,
				ttl: icmpTTL, quote: fnatReply.with(func(p *pkt) { p.payload = make([]byte, 1400-40+1) }).routed(), quoteLen: 28}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := testSpec()
			if c.open.dst == fnatSyn.dst {
				spec = fullnatSpec()
			}
			d := newMemDataplane(t, spec, 1, 1024)
			d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, c.mtus)
			d.beginBatch()
			w := d.Workers[0]
			if v, _ := processInChunk(w, c.open.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
				t.Fatalf("first packet: %+v (drops %v)", v, dropCounts(w))
			}
			v, out := processInChunk(w, c.in.frame(t), c.inPort, tunnelHeadroom)
			if v.action != actionTransmit || v.port != c.inPort {
				t.Fatalf("verdict %+v, want the answer back on port %d (drops %v)", v, c.inPort, dropCounts(w))
			}
			checkAnswer(t, c.name, out, c.want)
			if d := dropCounts(w); d["egress_too_large"] != 1 {
				t.Fatalf("drops %v, want egress_too_large 1", d)
			}
			w.publish()
			if n := w.Stats.Count(CountFragNeededSent); n != 1 {
				t.Fatalf("frag_needed_sent %d, want 1", n)
			}
		})
	}
}

// TestEgressMTUFragments: an IPv4 packet without DF too big for its egress
// port leaves, rewritten, as two fragments within the MTU whose payloads
// make up its own: a DR request and a NAT reply.
func TestEgressMTUFragments(t *testing.T) {
	natReply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(ack)
	for _, c := range []struct {
		name           string
		mtus           []int
		open, in, sent pkt // sent: in as it leaves, unfragmented
		inPort         int
	}{
		{"DR request", []int{1500, 1400}, drSyn, drSyn.with(func(p *pkt) { p.payload = bigPayload(1400) }),
			drSyn.with(func(p *pkt) { p.payload = bigPayload(1400); p.srcMAC, p.dstMAC = portMAC1, realMAC2 }), 0},
		{"NAT reply", []int{1400, 1500}, natSyn, natReply.with(func(p *pkt) { p.payload = bigPayload(1400) }),
			natSyn.reply().with(func(p *pkt) { p.flags = ack; p.payload = bigPayload(1400); p.srcMAC, p.dstMAC = portMAC0, clientMAC }).routed(), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := egressDataplane(t, c.mtus).Workers[0]
			if v, _ := processInChunk(w, c.open.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
				t.Fatalf("first packet: %+v (drops %v)", v, dropCounts(w))
			}
			v, second := processInChunk(w, clearDF(t, c.in.frame(t)), c.inPort, tunnelHeadroom)
			if v.action != actionTransmit || !w.extra.pending || w.extra.port != v.port {
				t.Fatalf("verdict %+v, spare frame pending %v on port %d (drops %v)", v, w.extra.pending, w.extra.port, dropCounts(w))
			}
			want := clearDF(t, c.sent.frame(t))
			var l3 header.Packet
			l3.Parse(want)
			var payload []byte
			for i, f := range [][]byte{w.extra.bytes(), second} {
				ip := header.IPv4(f[header.EthernetMinimumSize:])
				if len(f)-header.EthernetMinimumSize > 1400 || !ip.IsChecksumValid() || ip.MoreFragments() != (i == 0) ||
					int(ip.FragmentOffset()) != len(payload) || !bytes.Equal(f[:header.EthernetMinimumSize], want[:header.EthernetMinimumSize]) {
					t.Fatalf("fragment %d: %s", i, dump(f))
				}
				payload = append(payload, ip[ip.HeaderLength():ip.TotalLength()]...)
			}
			if !bytes.Equal(payload, want[l3.L4Off:l3.L4Off+l3.L4Len]) {
				t.Fatal("the fragments do not make up the rewritten packet")
			}
			w.publish()
			if n := w.Stats.Count(CountEgressFragmented); n != 1 {
				t.Fatalf("egress_fragmented %d, want 1", n)
			}
		})
	}
}

// egressReplyFixture is a NAT connection whose clients' port has MTU 1400
// and a real server's 1,441-byte reply to it, with DF (to be answered) or
// without (to be fragmented).
func egressReplyFixture(tb testing.TB, df bool) (*Worker, []byte) {
	w := egressDataplane(tb, []int{1400, 1500}).Workers[0]
	if v, _ := processInChunk(w, natSyn.frame(tb), 0, tunnelHeadroom); v.action != actionTransmit {
		tb.Fatalf("SYN: %+v", v)
	}
	reply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(ack).with(func(p *pkt) { p.payload = make([]byte, 1400) })
	frame := reply.frame(tb)
	var p header.Packet
	p.Parse(frame)
	ip := p.IPv4()
	ip[6] &^= 0x40
	if df {
		ip[6] |= 0x40
	}
	ip.SetChecksum(ip.CalculateChecksum())
	return w, frame
}

// runEgress processes frame from a chunk as the receive loop would, one
// ICMP interval later than the last (the answers stay within the budget).
func runEgress(w *Worker, chunk, frame []byte) verdict {
	copy(chunk[tunnelHeadroom:], frame)
	w.now += icmpInterval
	w.extra.pending = false
	v, _ := w.processIn(chunk, tunnelHeadroom, len(frame), 1)
	return v
}

func TestEgressMTUAllocs(t *testing.T) {
	for _, df := range []bool{true, false} {
		w, frame := egressReplyFixture(t, df)
		chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
		if n := testing.AllocsPerRun(1000, func() { runEgress(w, chunk, frame) }); n != 0 {
			t.Errorf("DF %v: %v allocations per packet, want 0", df, n)
		}
	}
}

// BenchmarkEgressMTU: ns for a NAT reply over its egress MTU, answered with
// fragmentation needed (DF) or sent as two fragments (no DF), each copied
// into its 1,495-byte frame first.
func BenchmarkEgressMTU(b *testing.B) {
	for _, c := range []struct {
		name string
		df   bool
	}{{"frag_needed_answer", true}, {"fragmented", false}} {
		b.Run(c.name, func(b *testing.B) {
			w, frame := egressReplyFixture(b, c.df)
			chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
			b.ReportAllocs()
			for b.Loop() {
				if v := runEgress(w, chunk, frame); v.action != actionTransmit {
					b.Fatalf("%+v: drops %v", v, dropCounts(w))
				}
			}
		})
	}
}

// FuzzEgressMTU sends arbitrary frames through a worker whose ports carry
// less than the frames (MTU 1300 towards the clients, 1280 towards the
// real servers) and that holds established DR, NAT and IPv6 connections.
// No input may panic, every outcome is a transmit or a drop counted once,
// and whatever is transmitted fits its port: the frame, and the spare
// frame a split queues ahead of it.
func FuzzEgressMTU(f *testing.F) {
	established, seeds := fuzzTraffic(f)
	big := func(p pkt) []byte { return p.with(func(p *pkt) { p.payload = bigPayload(1400); p.padTo = 0 }).frame(f) }
	natOut := natSyn.toReal("198.18.2.2", 8080, realMAC2)
	for _, s := range append(seeds,
		fuzzFrame{0, big(drSyn.with(func(p *pkt) { p.flags = ack }))},
		fuzzFrame{0, big(natSyn.with(func(p *pkt) { p.flags = ack }))},
		fuzzFrame{1, big(natOut.fromReal(ack))},
		fuzzFrame{1, big(nat6Syn.toReal("2001:2:2::2", 8080, realMAC6).fromReal(ack))},
	) {
		f.Add(uint8(s.port), s.frame, false)
		f.Add(uint8(s.port), s.frame, true) // DF cleared, where IPv4
	}
	mtus := []int{1300, 1280} // IPv6 links carry at least 1280
	f.Fuzz(func(t *testing.T, port uint8, frame []byte, clearDF bool) {
		d := newMemDataplane(t, testSpec(), 1, 64)
		d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, mtus)
		d.beginBatch()
		w := d.Workers[0]
		for _, e := range established {
			if v := w.processFrame(append([]byte(nil), e.frame...), e.port); v.action != actionTransmit {
				t.Fatalf("populate: dropped %v", dropCounts(w))
			}
		}
		if len(frame) > handoffFrameMax {
			return
		}
		if clearDF {
			var p header.Packet
			if p.Parse(frame) == header.ParseOK && !p.IsIPv6 {
				p.IPv4()[6] &^= 0x40 // the checksum may break: the dataplane does not check it
			}
		}
		drops := func() (n uint64) {
			w.publish()
			for d := range NumDrops {
				n += w.Stats.Drops[d].Load()
			}
			return n
		}
		before := drops()
		w.extra.pending = false
		v, out := processInChunk(w, frame, int(port%2), tunnelHeadroom)
		switch grew := drops() - before; v.action {
		case actionDrop:
			if grew != 1 {
				t.Fatalf("drop counted %d times: %v", grew, dropCounts(w))
			}
		case actionTransmit:
			var answer header.Packet // an ICMP answer is sent for a counted drop
			answered := answer.Parse(out) == header.ParseOK && (answer.Proto == header.ProtocolICMPv4 || answer.Proto == header.ProtocolICMPv6)
			if grew != 0 && !(grew == 1 && answered) {
				t.Fatalf("transmit counted %d drops: %v", grew, dropCounts(w))
			}
			sent := [][]byte{out}
			if w.extra.pending {
				if w.extra.port != v.port {
					t.Fatalf("spare frame for port %d, frame for %d", w.extra.port, v.port)
				}
				sent = append(sent, w.extra.bytes())
			}
			for _, s := range sent {
				var p header.Packet
				if r := p.Parse(s); r != header.ParseOK && r != header.ParseFragment {
					t.Fatalf("sent a frame that parses as %v", r)
				}
				if l3 := p.L4Off - p.L3Off + p.L4Len; l3 > mtus[v.port] {
					t.Fatalf("sent %d bytes on port %d (MTU %d)", l3, v.port, mtus[v.port])
				}
			}
		}
	})
}
