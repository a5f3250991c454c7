package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/header"
)

// fuzzTraffic is valid traffic of every kind the dataplane handles: the
// established flows each fuzz input meets, and the seeds.
func fuzzTraffic(tb testing.TB) (established, seeds []fuzzFrame) {
	natOut := natSyn.toReal("198.18.2.2", 8080, realMAC2)
	udpOut := natUDP.toReal("198.18.2.3", 5353, realMAC3)
	v6Out := nat6Syn.toReal("2001:2:2::2", 8080, realMAC6)
	established = []fuzzFrame{
		{0, drSyn.frame(tb)},
		{0, natSyn.frame(tb)},
		{1, natOut.fromReal(synAck).frame(tb)},
		{0, natSyn.with(func(p *pkt) { p.flags = ack }).frame(tb)},
		{0, natUDP.frame(tb)},
		{0, nat6Syn.frame(tb)},
		{1, v6Out.fromReal(synAck).frame(tb)},
	}
	seeds = append(seeds, established...)
	for _, s := range []struct {
		port int
		p    pkt
	}{
		{0, drSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("GET /") })},
		{0, drSyn.with(func(p *pkt) { p.flags = finAck })},
		{0, drSyn.with(func(p *pkt) { p.flags = rst })},
		{0, drSyn.with(func(p *pkt) { p.sport = 1 })}, // a new DR connection
		{1, natOut.fromReal(pshAck).with(func(p *pkt) { p.payload = []byte("HTTP/1.1 200 OK") })},
		{1, udpOut.reply()},
		{0, natUDP.with(func(p *pkt) { p.noUDPSum = true })},
		{1, udpOut.reply().with(func(p *pkt) { p.noUDPSum = true })},
		{0, nat6Syn.with(func(p *pkt) { p.flags = ack })},
		{0, natSyn.with(func(p *pkt) { p.dst = "198.18.0.50" })}, // unresolved neighbour
		{0, natSyn.with(func(p *pkt) { p.dst = "198.18.0.51" })}, // no route
		{0, natSyn.with(func(p *pkt) { p.dst = "198.18.0.99" })}, // no service
		{0, natSyn.with(func(p *pkt) { p.proto = 47; p.padTo = 0 })},
		{0, natSyn.with(func(p *pkt) { p.routedBy = 63 })}, // TTL 1
	} {
		seeds = append(seeds, fuzzFrame{s.port, s.p.frame(tb)})
	}
	// ICMP: errors about the connections from either side, and echo.
	toClient := natSyn.reply().with(func(p *pkt) { p.flags = synAck })
	for _, s := range []struct {
		port int
		e    icmpPkt
	}{
		{0, icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.1.254", dst: "198.18.0.20", typ: 3, code: 4, word: 1400, quote: toClient, quoteLen: 28}},
		{1, icmpPkt{srcMAC: realMAC3, dstMAC: portMAC1, src: "198.18.2.3", dst: "198.18.1.5", typ: 3, code: 3, quote: udpOut, quoteLen: 1 << 16}},
		{0, icmpPkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "2001:2:1::fe", dst: "2001:2::20", typ: 2, word: 1400,
			quote: nat6Syn.reply().with(func(p *pkt) { p.flags = synAck }), quoteLen: 1 << 16}},
		{0, icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", typ: 8, payload: []byte("ping")}},
		{0, icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: "2001:2::20", typ: 128, payload: []byte("ping")}},
	} {
		seeds = append(seeds, fuzzFrame{s.port, s.e.frame(tb)})
	}
	for _, s := range seeds[:len(seeds):len(seeds)] {
		for _, cut := range []int{0, 13, 14, 20, 33, 34, 40, 53, len(s.frame) - 1} {
			if cut < len(s.frame) {
				seeds = append(seeds, fuzzFrame{s.port, s.frame[:cut]})
			}
		}
	}
	return established, seeds
}

type fuzzFrame struct {
	port  int
	frame []byte
}

// FuzzProcess sends arbitrary frames through process() on a worker that
// holds established DR, NAT, UDP and IPv6 connections, twice (the second
// time meets whatever the first created). No input may panic; every
// outcome is a transmit (no drop counted, the frame still parses, valid
// checksums stay valid) or a drop counted by exactly one counter.
func FuzzProcess(f *testing.F) {
	established, seeds := fuzzTraffic(f)
	for _, s := range seeds {
		f.Add(uint8(s.port), s.frame)
	}
	f.Fuzz(func(t *testing.T, port uint8, frame []byte) {
		d := newMemDataplane(t, testSpec(), 1, 64)
		w := d.Workers[0]
		for _, e := range established {
			if v := w.processFrame(append([]byte(nil), e.frame...), e.port); v.action != actionTransmit {
				t.Fatalf("populate: dropped %v", dropCounts(w))
			}
		}
		for range 2 {
			checkProcessOutcome(t, w, int(port%2), frame)
		}
	})
}

func checkProcessOutcome(t *testing.T, w *Worker, port int, input []byte) {
	var before [NumDrops]uint64
	w.publish()
	for d := range NumDrops {
		before[d] = w.Stats.Drops[d].Load()
	}
	var in header.Packet
	inResult := in.Parse(input)
	inParsed := inResult == header.ParseOK
	inFragment := inResult == header.ParseFragment
	inFragIPv4Valid := inFragment && !in.IsIPv6 && in.IPv4().IsChecksumValid()
	inIPv4Valid := inParsed && !in.IsIPv6 && in.IPv4().IsChecksumValid()
	inL4Valid := inParsed && (in.Proto == header.ProtocolTCP || in.Proto == header.ProtocolUDP) && l4ChecksumValid(&in)
	inICMPValid := inParsed && icmpChecksumValid(&in)
	inUDPSum := uint16(1)
	if inParsed && in.Proto == header.ProtocolUDP {
		inUDPSum = in.UDP().Checksum()
	}

	frame := append([]byte(nil), input...)
	v := w.processFrame(frame, port)
	act, arg := v.action, v.port

	changed := 0
	w.publish()
	for d := range NumDrops {
		switch delta := w.Stats.Drops[d].Load() - before[d]; delta {
		case 0:
		case 1:
			changed++
		default:
			t.Fatalf("drop %s grew by %d", d, delta)
		}
	}
	switch act {
	case actionDrop:
		if changed != 1 {
			t.Fatalf("drop counted by %d counters, want 1", changed)
		}
	case actionTransmit:
		if changed != 0 {
			t.Fatalf("transmit also counted a drop: %v", dropCounts(w))
		}
		if arg != 0 && arg != 1 {
			t.Fatalf("transmit on port %d of 2", arg)
		}
		if len(frame) != len(input) {
			t.Fatalf("frame length %d became %d", len(input), len(frame))
		}
		if src := header.Ethernet(frame).SourceAddress(); src != portMAC(arg) {
			t.Fatalf("left port %d with source MAC %v", arg, src)
		}
		var out header.Packet
		if inFragment {
			// A fragment is followed, not reassembled: it leaves a
			// fragment, its IPv4 header checksum intact.
			if r := out.Parse(frame); r != header.ParseFragment {
				t.Fatalf("transmitted fragment parses as %v", r)
			}
			if inFragIPv4Valid && !out.IPv4().IsChecksumValid() {
				t.Fatalf("valid IPv4 header checksum of a fragment broken\n in: %x\nout: %x", input, frame)
			}
			break
		}
		if r := out.Parse(frame); r != header.ParseOK {
			t.Fatalf("transmitted frame does not parse: %v", r)
		}
		if inIPv4Valid && !out.IPv4().IsChecksumValid() {
			t.Fatalf("valid IPv4 header checksum broken by the rewrite\n in: %x\nout: %x", input, frame)
		}
		if inL4Valid && inUDPSum != 0 && !l4ChecksumValid(&out) {
			t.Fatalf("valid L4 checksum broken by the rewrite\n in: %x\nout: %x", input, frame)
		}
		if inICMPValid && !icmpChecksumValid(&out) {
			t.Fatalf("valid ICMP checksum broken by the translation\n in: %x\nout: %x", input, frame)
		}
		if out.Proto != header.ProtocolTCP && out.Proto != header.ProtocolUDP {
			return // ICMP: the quote is rewritten, the rest checked above
		}
		if inUDPSum == 0 && out.UDP().Checksum() != 0 {
			t.Fatalf("UDP checksum 0 (none) became %#04x", out.UDP().Checksum())
		}
		if !inParsed {
			t.Fatalf("transmitted a frame that did not parse")
		}
		// Rewrites stop at the L4 header: the payload is never touched.
		payload := out.L4Off + header.UDPMinimumSize
		if out.Proto == header.ProtocolTCP {
			payload = out.L4Off + out.TCP().DataOffset()
		}
		if !bytes.Equal(frame[payload:], input[payload:]) {
			t.Fatalf("payload changed\n in: %x\nout: %x", input, frame)
		}
	case actionHold:
		if changed != 0 || !inFragment {
			t.Fatalf("held a frame that is no fragment, or counted a drop too: %v", dropCounts(w))
		}
	default:
		t.Fatalf("process = %+v on a single worker", v)
	}
}

// icmpChecksumValid reports whether a parsed frame is ICMP or ICMPv6 with a
// checksum that verifies.
func icmpChecksumValid(p *header.Packet) bool {
	switch {
	case p.Proto == header.ProtocolICMPv4 && !p.IsIPv6:
		return header.Checksum(p.L4(), 0) == 0xffff
	case p.Proto == header.ProtocolICMPv6 && p.IsIPv6:
		return header.Checksum(p.L4(), header.PseudoHeaderChecksum(p.Proto, p.Src[:], p.Dst[:], uint16(p.L4Len))) == 0xffff
	}
	return false
}

func portMAC(port int) header.MAC {
	if port == 1 {
		return portMAC1
	}
	return portMAC0
}
