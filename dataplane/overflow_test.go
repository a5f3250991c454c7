package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"fastlvs/header"
	"fastlvs/tunnel"
)

func TestNextShedding(t *testing.T) {
	const high, low = 1.1, 0.7
	for _, c := range []struct {
		shedding bool
		ratio    float64
		want     bool
	}{
		{false, 0, false},
		{false, 1.1, false}, // at high: not above it yet
		{false, 1.11, true},
		{true, 1.11, true},
		{true, 0.9, true}, // between the thresholds: stays on
		{false, 0.9, false},
		{true, 0.7, true}, // at low: not below it yet
		{true, 0.69, false},
	} {
		if got := nextShedding(c.shedding, c.ratio, high, low); got != c.want {
			t.Errorf("nextShedding(%v, %v) = %v, want %v", c.shedding, c.ratio, got, c.want)
		}
	}
}

// overflowSpec is a DR service of capacity 1 that sheds to 198.18.2.3.
func overflowSpec(gue bool) TableSpec {
	spec := TableSpec{Services: []ServiceSpec{
		{Name: "dr", VIP: addr("198.18.0.30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR,
			Reals:    []RealSpec{realAt("198.18.2.2", 80, 1)},
			Overflow: OverflowSpec{To: addr("198.18.2.3"), High: 1.1, Low: 0.7, Capacity: 1, GUE: gue, GUEPort: 6080}},
	}}
	return spec
}

func newOverflowDataplane(t testing.TB, spec TableSpec) *memDataplane {
	d := newMemDataplane(t, spec, 1, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, nil)
	d.beginBatch()
	return d
}

// TestOverflowShedsNewConnectionsOnly: over its capacity a service tunnels
// new connections to the other site; established ones stay where they
// are, in both directions, when the state flips on and off again.
func TestOverflowShedsNewConnectionsOnly(t *testing.T) {
	for _, gue := range []bool{false, true} {
		d := newOverflowDataplane(t, overflowSpec(gue))
		w := d.Workers[0]
		svc := &w.table.Services()[0]
		conn := func(port uint16, flags uint8) pkt {
			return tunSyn.with(func(p *pkt) { p.sport, p.flags = port, flags })
		}
		send := func(p pkt) (home bool) {
			t.Helper()
			v, out := processInChunk(w, p.frame(t), 0, tunnelHeadroom)
			if v.action != actionTransmit {
				t.Fatalf("gue %v port %d: dropped %v", gue, p.sport, dropCounts(w))
			}
			var h header.Packet
			h.Parse(out)
			switch {
			case h.Proto == header.ProtocolTCP && h.Dst == addr("198.18.0.30").As16():
				return true
			case !gue && h.Proto == header.ProtocolIPIP && h.Dst == addr("198.18.2.3").As16(),
				gue && h.Proto == header.ProtocolUDP && h.DstPort == 6080 && h.Dst == addr("198.18.2.3").As16():
				return false
			}
			t.Fatalf("gue %v: neither served nor shed: %s", gue, dump(out))
			return false
		}
		established := func(port uint16) bool { send(conn(port, syn)); return send(conn(port, ack)) }

		if !established(1001) || !established(1002) {
			t.Fatalf("gue %v: connections under capacity were shed", gue)
		}
		if !w.table.HasOverflow() {
			t.Fatalf("gue %v: a table with an overflow service says it has none", gue)
		}
		w.table.UpdateOverflow() // 2 active of 1: ratio 2
		if !svc.State.Overflow.Shedding() || svc.State.Overflow.LoadRatio() != 2 {
			t.Fatalf("gue %v: ratio %v, shedding %v", gue, svc.State.Overflow.LoadRatio(), svc.State.Overflow.Shedding())
		}
		if established(1003) {
			t.Fatalf("gue %v: a new connection over capacity stayed home", gue)
		}
		if !send(conn(1001, pshAck)) {
			t.Fatalf("gue %v: an established connection moved", gue)
		}
		send(conn(1001, finAck)) // closing connections no longer load the site
		send(conn(1002, finAck))
		w.table.UpdateOverflow()
		if svc.State.Overflow.Shedding() || svc.State.Overflow.Changes() != 2 {
			t.Fatalf("gue %v: still shedding at ratio %v", gue, svc.State.Overflow.LoadRatio())
		}
		if send(conn(1003, pshAck)) {
			t.Fatalf("gue %v: a shed connection came home", gue)
		}
		if !established(1004) {
			t.Fatalf("gue %v: a new connection under low was shed", gue)
		}
		w.publish()
		if n := w.Stats.Counts[CountOverflowShed].Load(); n != 1 {
			t.Fatalf("gue %v: shed count %d, want 1", gue, n)
		}
		if n := svc.OverflowReal().State.Stats[0].Traffic.Conns.Load(); n != 1 {
			t.Fatalf("gue %v: overflow target's connections %d, want 1", gue, n)
		}
	}
}

// TestOverflowShedsWhenNoRealServer: a service whose real servers are all
// over their u_threshold sheds rather than drops.
func TestOverflowShedsWhenNoRealServer(t *testing.T) {
	spec := overflowSpec(false)
	spec.Services[0].Overflow.Capacity = 0
	spec.Services[0].Reals[0].UpperThreshold = 1
	d := newOverflowDataplane(t, spec)
	w := d.Workers[0]
	for i, wantProto := range []uint8{header.ProtocolTCP, header.ProtocolIPIP} {
		p := tunSyn.with(func(p *pkt) { p.sport = uint16(2000 + i) })
		v, out := processInChunk(w, p.frame(t), 0, tunnelHeadroom)
		var h header.Packet
		h.Parse(out)
		if v.action != actionTransmit || h.Proto != wantProto {
			t.Fatalf("connection %d: verdict %+v proto %d, want %d; drops %v", i, v, h.Proto, wantProto, dropCounts(w))
		}
	}
}

// tunnelledFrame is p inside IPIP (or GUE to port 6080) from src to the
// director's 198.18.2.1, as another site's director sends it.
func tunnelledFrame(t testing.TB, p pkt, src string, gue bool) []byte {
	t.Helper()
	p.padTo = 0
	in := p.frame(t)
	chunk := make([]byte, 128+len(in))
	copy(chunk[128:], in)
	s, dst := addr(src).As16(), addr("198.18.2.1").As16()
	var start, n int
	if gue {
		start, n = tunnel.EncapsulateGUE(chunk, 128, len(in), header.EthernetMinimumSize, &s, &dst, 7, 50000, 6080)
	} else {
		start, n = tunnel.Encapsulate(chunk, 128, len(in), header.EthernetMinimumSize, &s, &dst, 7)
	}
	return chunk[start : start+n]
}

// acceptSpec is a director that serves 198.18.0.30:80 by DR and accepts
// connections shed by 198.18.2.3 (IPIP, or GUE on 6080).
func acceptSpec() TableSpec {
	spec := overflowSpec(false)
	spec.Services[0].Overflow = OverflowSpec{}
	spec.OverflowAccept = OverflowAcceptSpec{From: []netip.Addr{addr("198.18.2.3")}, GUEPort: 6080}
	return spec
}

// TestOverflowAcceptOpensPeerTunnels: a peer's tunnelled packet is served
// exactly as the client's packet would be; anyone else's is refused.
func TestOverflowAcceptOpensPeerTunnels(t *testing.T) {
	direct := newOverflowDataplane(t, acceptSpec())
	d := newOverflowDataplane(t, acceptSpec())
	w := d.Workers[0]
	for i, c := range []struct {
		name string
		in   pkt
		src  string
		gue  bool
		drop string
	}{
		{"ipip from the peer", tunSyn, "198.18.2.3", false, ""},
		{"gue from the peer", tunSyn.with(func(p *pkt) { p.sport++ }), "198.18.2.3", true, ""},
		{"ipip from a stranger", tunSyn.with(func(p *pkt) { p.sport += 2 }), "198.18.2.4", false, "overflow_peer_refused"},
		{"gue from a stranger", tunSyn.with(func(p *pkt) { p.sport += 3 }), "198.18.2.4", true, "overflow_peer_refused"},
		{"inner destination not a VIP", tunSyn.with(func(p *pkt) { p.dst = "198.18.2.2" }), "198.18.2.3", false, "overflow_not_vip"},
	} {
		before := dropCounts(w)
		v, out := processInChunk(w, tunnelledFrame(t, c.in, c.src, c.gue), 1, tunnelHeadroom)
		if c.drop != "" {
			before[c.drop]++
			if v.action != actionDrop || !equalCounts(before, dropCounts(w)) {
				t.Fatalf("%s: verdict %+v, drops %v, want %s", c.name, v, dropCounts(w), c.drop)
			}
			continue
		}
		// gopacket pads the direct frame to 60 bytes; the opened one has none.
		_, want := processInChunk(direct.Workers[0], c.in.frame(t), 0, tunnelHeadroom)
		if v.action != actionTransmit || len(out) > len(want) || !bytes.Equal(out, want[:len(out)]) {
			t.Fatalf("case %d %s: verdict %+v, drops %v\n got: %s\nwant: %s", i, c.name, v, dropCounts(w), dump(out), dump(want))
		}
	}
	w.publish()
	if n := w.Stats.Counts[CountOverflowReceived].Load(); n != 2 {
		t.Fatalf("received %d, want 2", n)
	}
}

// TestOverflowAcceptBadGUE: a GUE packet with options or no IP packet
// inside is counted and dropped.
func TestOverflowAcceptBadGUE(t *testing.T) {
	d := newOverflowDataplane(t, acceptSpec())
	w := d.Workers[0]
	frame := tunnelledFrame(t, tunSyn, "198.18.2.3", true)
	gue := header.EthernetMinimumSize + header.IPv4MinimumSize + header.UDPMinimumSize
	for _, mutate := range []func(f []byte){
		func(f []byte) { f[gue] = 1 },      // hlen 1: options
		func(f []byte) { f[gue+1] = 41 },   // says IPv6, holds IPv4
		func(f []byte) { f[gue] = 1 << 5 }, // a control message
	} {
		f := bytes.Clone(frame)
		mutate(f)
		before := dropCounts(w)
		before["overflow_bad_tunnel"]++
		if v, _ := processInChunk(w, f, 1, tunnelHeadroom); v.action != actionDrop || !equalCounts(before, dropCounts(w)) {
			t.Fatalf("verdict %+v, drops %v", v, dropCounts(w))
		}
	}
}

// overflowFlows are the first and a later frame of one connection, and the
// port they arrive on, through a dataplane that sheds (the SYN is shed) or
// accepts (the frames are a peer's GUE).
func overflowFlows(tb testing.TB, shedding bool) (w *Worker, syn, data []byte, port int) {
	ack := tunSyn.with(func(p *pkt) { p.flags = ack })
	if shedding {
		d := newOverflowDataplane(tb, overflowSpec(true))
		w = d.Workers[0]
		w.table.Services()[0].State.Overflow.shedding.Store(true)
		return w, tunSyn.frame(tb), ack.frame(tb), 0
	}
	d := newOverflowDataplane(tb, acceptSpec())
	return d.Workers[0], tunnelledFrame(tb, tunSyn, "198.18.2.3", true), tunnelledFrame(tb, ack, "198.18.2.3", true), 1
}

// processEstablished opens the overflowFlows connection, then returns a
// func that runs its later frame through process as the receive loop does.
func processEstablished(tb testing.TB, shedding bool) func() {
	w, syn, data, port := overflowFlows(tb, shedding)
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	copy(chunk[tunnelHeadroom:], syn)
	if v, _ := w.processIn(chunk, tunnelHeadroom, len(syn), port); v.action != actionTransmit {
		tb.Fatalf("first packet dropped: %v", dropCounts(w))
	}
	return func() {
		copy(chunk[tunnelHeadroom:], data)
		if v, _ := w.processIn(chunk, tunnelHeadroom, len(data), port); v.action != actionTransmit {
			tb.Fatalf("dropped: %v", dropCounts(w))
		}
	}
}

func TestOverflowAllocatesNothing(t *testing.T) {
	for _, shedding := range []bool{true, false} {
		if n := testing.AllocsPerRun(1000, processEstablished(t, shedding)); n != 0 {
			t.Fatalf("shedding side %v: %v allocations per packet, want 0", shedding, n)
		}
	}
}

// BenchmarkProcessOverflow is one established packet of a shed connection
// (encapsulated in GUE to the other site) and one of a peer's tunnelled
// connection (GUE opened, then DR).
func BenchmarkProcessOverflow(b *testing.B) {
	for _, c := range []struct {
		name     string
		shedding bool
	}{{"shed", true}, {"accept", false}} {
		b.Run(c.name, func(b *testing.B) {
			run := processEstablished(b, c.shedding)
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}

// TestOverflowAcceptNAT: a peer's tunnelled connection to a NAT service is
// translated as a direct one, and its real server's replies go from the
// VIP straight to the client.
func TestOverflowAcceptNAT(t *testing.T) {
	spec := testSpec()
	spec.OverflowAccept = OverflowAcceptSpec{From: []netip.Addr{addr("198.18.2.3")}}
	direct, tunnelled := newMemDataplane(t, testSpec(), 1, 1024), newMemDataplane(t, spec, 1, 1024)
	synAckIn := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck)
	for _, c := range []struct {
		name             string
		direct, overflow []byte
		port, wantPort   int
	}{
		{"client SYN", natSyn.frame(t), tunnelledFrame(t, natSyn, "198.18.2.3", false), 0, 1},
		{"real server's SYN-ACK", synAckIn.frame(t), synAckIn.frame(t), 1, 0},
	} {
		_, want := processInChunk(direct.Workers[0], c.direct, c.port, tunnelHeadroom)
		port := c.port
		if c.name == "client SYN" {
			port = 1 // the peer's tunnel may arrive on any port
		}
		v, got := processInChunk(tunnelled.Workers[0], c.overflow, port, tunnelHeadroom)
		if v.action != actionTransmit || v.port != c.wantPort || len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) {
			t.Fatalf("%s: verdict %+v, drops %v\n got: %s\nwant: %s", c.name, v, dropCounts(tunnelled.Workers[0]), dump(got), dump(want))
		}
	}
}

// TestOverflowKeepsTunnelAfterReload: a connection shed by GUE stays on
// GUE to the other site when a new table drops the overflow.
func TestOverflowKeepsTunnelAfterReload(t *testing.T) {
	d := newOverflowDataplane(t, overflowSpec(true))
	w := d.Workers[0]
	w.table.Services()[0].State.Overflow.shedding.Store(true)
	if v, _ := processInChunk(w, tunSyn.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	spec := overflowSpec(false)
	spec.Services[0].Overflow = OverflowSpec{}
	d.publish(t, spec)
	d.beginBatch()
	v, out := processInChunk(w, tunSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 0, tunnelHeadroom)
	var h header.Packet
	h.Parse(out)
	if v.action != actionTransmit || h.Proto != header.ProtocolUDP || h.DstPort != 6080 || h.Dst != addr("198.18.2.3").As16() {
		t.Fatalf("after the reload: verdict %+v, drops %v, frame %s", v, dropCounts(w), dump(out))
	}
}
