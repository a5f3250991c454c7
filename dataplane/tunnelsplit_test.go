package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/header"
)

// TestTunnelFragmentsWithoutDF: an IPv4 packet without DF one byte over the
// tunnel's room leaves as two tunnel packets, each within the egress MTU,
// the first (the spare frame) queued ahead; their inner fragments put back
// together are the client's packet.
func TestTunnelFragmentsWithoutDF(t *testing.T) {
	d := newTunnelDataplane(t, []int{1500, 1400})
	w := d.Workers[0]
	payload := make([]byte, 1380-28+1)
	for i := range payload {
		payload[i] = byte(i)
	}
	in := clearDF(t, tunUDP.with(func(p *pkt) { p.payload = payload; p.sport = 42000 }).frame(t))
	var orig header.Packet
	orig.Parse(in)
	inner := append([]byte(nil), in[orig.L3Off:orig.L4Off+orig.L4Len]...)

	v, second := processInChunk(w, in, 0, tunnelHeadroom)
	if v.action != actionTransmit || v.port != 1 || !w.extra.pending || w.extra.port != 1 {
		t.Fatalf("verdict %+v, spare frame pending %v on port %d (drops %v)", v, w.extra.pending, w.extra.port, dropCounts(w))
	}
	first := w.extra.bytes()
	var reassembled []byte
	for i, f := range [][]byte{first, second} {
		var outer header.Packet
		outer.Parse(f)
		if outer.Proto != header.ProtocolIPIP || outer.Dst != addr("198.18.2.3").As16() || len(f)-header.EthernetMinimumSize > 1400 {
			t.Fatalf("fragment %d: not a tunnel packet to the real server within the MTU: %s", i, dump(f))
		}
		if !outer.IPv4().IsChecksumValid() || !header.IPv4(f[outer.L4Off:]).IsChecksumValid() {
			t.Fatalf("fragment %d: header checksum invalid", i)
		}
		frag := header.IPv4(f[outer.L4Off:])
		if frag.MoreFragments() != (i == 0) || int(frag.FragmentOffset()) != len(reassembled) {
			t.Fatalf("fragment %d: MF %v offset %d, reassembled so far %d", i, frag.MoreFragments(), frag.FragmentOffset(), len(reassembled))
		}
		reassembled = append(reassembled, frag[frag.HeaderLength():frag.TotalLength()]...)
	}
	if !bytes.Equal(reassembled, inner[20:]) {
		t.Fatal("the fragments' payloads do not make up the packet's")
	}
	w.publish()
	if n := w.Stats.Count(CountTunnelFragmented); n != 1 {
		t.Fatalf("tunnel_fragmented %d, want 1", n)
	}
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	if a := testing.AllocsPerRun(100, func() {
		copy(chunk[tunnelHeadroom:], in)
		w.processIn(chunk, tunnelHeadroom, len(in), 0)
	}); a != 0 {
		t.Errorf("fragmenting allocates %v times per packet", a)
	}
}

// TestPollSendsBothFragments: through the worker's batch loop, the two
// tunnel packets of a split leave on the real servers' port, the first
// fragment first, and no UMEM frame is lost.
func TestPollSendsBothFragments(t *testing.T) {
	d := newRingDataplane(t, tunnelSpec(), 1, 64)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, []int{1500, 1400})
	d.beginBatch()
	w := d.Workers[0]
	in := clearDF(t, tunUDP.with(func(p *pkt) { p.payload = make([]byte, 1400); p.sport = 42001 }).frame(t))
	d.deliver(t, 0, 0, in)
	w.poll()
	out := d.sent(0, 1)
	if len(out) != 2 {
		t.Fatalf("port 1 sent %d frames, want 2 (drops %v)", len(out), dropCounts(w))
	}
	for i, f := range out {
		var outer header.Packet
		outer.Parse(f)
		frag := header.IPv4(f[outer.L4Off:])
		if frag.MoreFragments() != (i == 0) {
			t.Fatalf("frame %d: more-fragments %v", i, frag.MoreFragments())
		}
	}
	d.checkNoLeak(t)
}

// TestSplitAFragment: a fragment cut in two keeps its place in the
// datagram: the halves start at its offset and at its offset plus the
// first half's payload, the first with MF, the second with the fragment's
// own MF (set for a middle fragment, clear for the last).
func TestSplitAFragment(t *testing.T) {
	q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", proto: header.ProtocolUDP,
		sport: 40000, dport: 53, payload: bigPayload(3500)}
	middle := fragmentFrame(t, q.frame(t), 1480, 0x99)[1]                                                   // offset 1480, MF
	last := fragmentFrame(t, q.with(func(p *pkt) { p.payload = bigPayload(4400) }).frame(t), 1480, 0x99)[2] // offset 2960, 1,448 bytes
	for i, c := range []struct {
		frame []byte
		more  bool
	}{{middle, true}, {last, false}} {
		frame, more := c.frame, c.more
		orig := header.IPv4(frame[header.EthernetMinimumSize:])
		base, total := int(orig.FragmentOffset()), int(orig.TotalLength())
		first := make([]byte, handoffFrameMax)
		firstLen, secondOff, secondLen, ok := splitIPv4(frame, header.EthernetMinimumSize, 1000, first)
		if !ok {
			t.Fatalf("fragment %d: not split", i)
		}
		a, b := header.IPv4(first[header.EthernetMinimumSize:firstLen]), header.IPv4(frame[secondOff+header.EthernetMinimumSize:secondOff+secondLen])
		cut := int(a.TotalLength()) - 20
		if int(a.FragmentOffset()) != base || !a.MoreFragments() || int(b.FragmentOffset()) != base+cut || b.MoreFragments() != more ||
			cut+int(b.TotalLength())-20 != total-20 || !a.IsChecksumValid() || !b.IsChecksumValid() {
			t.Fatalf("fragment %d (offset %d, MF %v): halves at %d MF %v and %d MF %v, payloads %d+%d of %d",
				i, base, more, a.FragmentOffset(), a.MoreFragments(), b.FragmentOffset(), b.MoreFragments(), cut, b.TotalLength()-20, total-20)
		}
	}
}
