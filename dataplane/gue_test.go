package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/header"
)

// newGUEDataplane is the tunnel test dataplane with every tun service
// sending GUE to port 6080.
func newGUEDataplane(t testing.TB) *memDataplane {
	spec := tunnelSpec()
	for i := range spec.Services {
		spec.Services[i].GUE, spec.Services[i].GUEPort = true, 6080
	}
	d := newMemDataplane(t, spec, 1, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, nil)
	d.beginBatch()
	return d
}

// TestProcessGUE: a GUE service's packets leave inside UDP to the GUE port
// from a source port that stays with the flow and differs between flows,
// the client's packet untouched behind the GUE header.
func TestProcessGUE(t *testing.T) {
	d := newGUEDataplane(t)
	w := d.Workers[0]
	ports := map[uint16]bool{}
	for i, in := range []pkt{tunSyn, tun6in6, tun4in6, tun6in4} {
		for flow := range 8 {
			in := in.with(func(p *pkt) { p.sport += uint16(100 * flow) })
			var flowPort uint16
			for _, flags := range []uint8{syn, ack} {
				in := in.with(func(p *pkt) { p.flags = flags; p.padTo = 0 })
				frame := in.frame(t)
				v, out := processInChunk(w, frame, 0, tunnelHeadroom)
				if v.action != actionTransmit {
					t.Fatalf("case %d: %+v drops %v", i, v, dropCounts(w))
				}
				var outer header.Packet
				if r := outer.Parse(out); r != header.ParseOK || outer.Proto != header.ProtocolUDP {
					t.Fatalf("case %d: outer parse %v proto %d", i, r, outer.Proto)
				}
				u := outer.UDP()
				if u.DestinationPort() != 6080 || u.SourcePort() < 49152 {
					t.Fatalf("case %d: outer UDP %d -> %d", i, u.SourcePort(), u.DestinationPort())
				}
				if flowPort == 0 {
					flowPort = u.SourcePort()
				} else if u.SourcePort() != flowPort {
					t.Fatalf("case %d: one flow's packets left from ports %d and %d", i, flowPort, u.SourcePort())
				}
				ports[flowPort] = true
				gue := outer.L4()[header.UDPMinimumSize:]
				var inner header.Packet
				inner.Parse(frame)
				if !bytes.Equal(gue[4:], frame[14:inner.L4Off+inner.L4Len]) || gue[0] != 0 {
					t.Fatalf("case %d: GUE payload is not the client's packet", i)
				}
			}
		}
	}
	if len(ports) < 16 {
		t.Errorf("32 flows left from only %d source ports", len(ports))
	}
}

func TestProcessGUEAllocs(t *testing.T) {
	d := newGUEDataplane(t)
	w := d.Workers[0]
	if v, _ := processInChunk(w, tunSyn.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatalf("SYN: %v", dropCounts(w))
	}
	frame := tunSyn.with(func(p *pkt) { p.flags = ack }).frame(t)
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	if n := testing.AllocsPerRun(1000, func() {
		copy(chunk[tunnelHeadroom:], frame)
		w.processIn(chunk, tunnelHeadroom, len(frame), 0)
	}); n != 0 {
		t.Errorf("%v allocations per GUE packet, want 0", n)
	}
}

// BenchmarkProcessGUE is BenchmarkProcessTunnel with GUE.
func BenchmarkProcessGUE(b *testing.B) { benchmarkTunnel(b, newGUEDataplane(b)) }

// BenchmarkProcessIPv6 is one established IPv6 UDP datagram through each
// method (fragSpec's services): lookup, rewrite or encapsulation.
func BenchmarkProcessIPv6(b *testing.B) {
	for _, m := range []struct{ name, vip string }{
		{"dr", "2001:2::10"}, {"nat", "2001:2::20"}, {"tun", "2001:2::30"}, {"fullnat", "2001:2::40"},
	} {
		b.Run(m.name, func(b *testing.B) {
			var sent [][]byte
			d := newFragDataplane(b, 1, &sent)
			w := d.Workers[0]
			frame := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: m.vip, proto: header.ProtocolUDP,
				sport: 40000, dport: 53, payload: make([]byte, 18)}.frame(b)
			chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
			b.ReportAllocs()
			for b.Loop() {
				copy(chunk[tunnelHeadroom:], frame)
				if v, _ := w.processIn(chunk, tunnelHeadroom, len(frame), 0); v.action != actionTransmit {
					b.Fatalf("dropped: %v", dropCounts(w))
				}
			}
		})
	}
}
