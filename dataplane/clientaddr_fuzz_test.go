package dataplane

import (
	"testing"

	"fastlvs/header"
)

// FuzzClientAddress sends arbitrary frames, in a UMEM-sized buffer that
// lets them grow, through a worker whose FULLNAT services write a PROXY
// header (v1 or v2) or TOA, after a handshake that left a connection
// waiting for its first data. No input may panic; a drop is counted by
// exactly one counter; a transmitted frame parses, and checksums that were
// valid stay valid however it grew.
func FuzzClientAddress(f *testing.F) {
	const client, vip, real, local = "198.18.1.5", "198.18.0.30", "198.18.2.2", "198.18.3.1"
	seeds := [][]byte{
		tcpSegment(f, client, vip, 40001, 80, 1001, 5001, pshAck, 0, []byte("GET / HTTP/1.1\r\n\r\n")),
		tcpSegment(f, client, vip, 40001, 80, 1001, 5001, ack, 0, nil),
		tcpSegment(f, client, vip, 40001, 80, 1010, 5001, pshAck, 0, []byte("later")),
		tcpSegment(f, real, local, 8080, 1024, 5001, 1001, ack, 0, nil),
		tcpSegment(f, real, local, 8080, 1024, 5001, 1100, pshAck, 0, []byte("HTTP/1.1 200 OK")),
		tcpSegment(f, client, vip, 40009, 80, 7, 0, syn, 1460, nil),
		tcpSegment(f, "2001:2:1::5", "2001:2::30", 40001, 80, 1001, 5001, pshAck, 0, []byte("GET /")),
		fnatUDP.frame(f),
	}
	for _, s := range seeds {
		for way := range uint8(3) {
			f.Add(way, uint8(0), s)
			f.Add(way, uint8(1), s)
		}
	}
	f.Fuzz(func(t *testing.T, way, port uint8, frame []byte) {
		ways := [...]ClientAddress{ClientAddressProxyV1, ClientAddressProxyV2, ClientAddressTOA}
		d := newMemDataplane(t, clientAddrSpec(ways[int(way)%len(ways)]), 1, 64)
		w := d.Workers[0]
		d.beginBatch()
		for _, h := range []struct {
			port  int
			frame []byte
		}{
			{0, tcpSegment(t, client, vip, 40001, 80, 1000, 0, syn, 1460, nil)},
			{1, tcpSegment(t, real, local, 8080, 1024, 5000, 1001, synAck, 1460, nil)},
			{0, tcpSegment(t, client, vip, 40001, 80, 1001, 5001, ack, 0, nil)},
		} {
			buf := make([]byte, 2048)
			if v, _ := w.processIn(buf, 0, copy(buf, h.frame), h.port); v.action != actionTransmit {
				t.Fatalf("handshake dropped: %v", dropCounts(w))
			}
		}
		for range 2 {
			checkGrowingOutcome(t, w, int(port%2), frame)
		}
	})
}

// checkGrowingOutcome is checkProcessOutcome for a frame with room to grow.
func checkGrowingOutcome(t *testing.T, w *Worker, port int, input []byte) {
	if len(input) > 1600 {
		return
	}
	w.publish()
	before := dropTotal(w)
	var in header.Packet
	inResult := in.Parse(input)
	inParsed := inResult == header.ParseOK
	inValid := inParsed && (in.Proto == header.ProtocolTCP || in.Proto == header.ProtocolUDP) && l4ChecksumValid(&in) &&
		(in.IsIPv6 || in.IPv4().IsChecksumValid())
	buf := make([]byte, 2048)
	v, out := w.processIn(buf, 0, copy(buf, input), port)
	w.publish()
	dropped := dropTotal(w) - before
	switch v.action {
	case actionDrop:
		if dropped != 1 {
			t.Fatalf("drop counted %d times", dropped)
		}
	case actionTransmit:
		if dropped != 0 {
			t.Fatalf("transmit also counted a drop: %v", dropCounts(w))
		}
		var p header.Packet
		r := p.Parse(out)
		if r == header.ParseFragment && inResult == header.ParseFragment {
			break // a first fragment is followed, not reassembled: it leaves a fragment
		}
		if r != header.ParseOK {
			t.Fatalf("transmitted frame does not parse: %v\n in: %x\nout: %x", r, input, out)
		}
		if inValid && !(l4ChecksumValid(&p) && (p.IsIPv6 || p.IPv4().IsChecksumValid())) {
			t.Fatalf("valid checksums broken\n in: %x\nout: %x", input, out)
		}
	}
}
