package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
	"fastlvs/nexthop"
)

// The director's addresses on its ports, as the kernel would list them: the
// VIPs also sit on port 0 as /32s, which must never become a tunnel source.
var tunnelPortAddrs = [][]netip.Prefix{
	{netip.MustParsePrefix("198.18.0.30/32"), netip.MustParsePrefix("198.18.1.1/24"), netip.MustParsePrefix("2001:2:1::1/64")},
	{netip.MustParsePrefix("198.18.2.1/24"), netip.MustParsePrefix("2001:2:2::1/64")},
}

func tunnelSpec() TableSpec {
	return TableSpec{Services: []ServiceSpec{
		{Name: "tun", VIP: addr("198.18.0.30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("198.18.2.2", 80, 1)}},
		{Name: "tun-udp", VIP: addr("198.18.0.30"), Port: 53, Proto: ProtoUDP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("198.18.2.3", 53, 1)}},
		{Name: "tun-4in6", VIP: addr("198.18.0.31"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("2001:2:2::2", 80, 1)}},
		{Name: "tun-6in6", VIP: addr("2001:2::30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("2001:2:2::2", 80, 1)}},
		{Name: "tun-6in4", VIP: addr("2001:2::31"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("198.18.2.4", 80, 1)}},
		{Name: "tun-unresolved", VIP: addr("198.18.0.32"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodTunnel,
			Reals: []RealSpec{realAt("198.18.2.9", 80, 1)}},
	}}
}

func newTunnelDataplane(t testing.TB, mtus []int) *memDataplane {
	d := newMemDataplane(t, tunnelSpec(), 1, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, mtus)
	d.beginBatch()
	return d
}

// tunnelHeadroom is the free space before a received frame, as in a UMEM
// chunk or a handoff slot.
const tunnelHeadroom = handoffHeadroom

// processInChunk runs process on a copy of frame placed after headroom free
// bytes, as the receive loop does, and returns what would be sent.
func processInChunk(w *Worker, frame []byte, port, headroom int) (verdict, []byte) {
	chunk := make([]byte, headroom+handoffFrameMax)
	copy(chunk[headroom:], frame)
	v, out := w.processIn(chunk, headroom, len(frame), port)
	if v.action != actionTransmit {
		return v, nil
	}
	return v, out
}

// encapsulated is p (without Ethernet padding) inside an outer header from
// src to dst, sent from port 1 to mac: the frame a real server receives.
func encapsulated(t *testing.T, p pkt, src, dst string, id uint16, mac header.MAC) []byte {
	t.Helper()
	p.padTo = 0
	innerFrame := p.frame(t)
	var l3 header.Packet
	l3.Parse(innerFrame)
	in := innerFrame[l3.L3Off : l3.L4Off+l3.L4Len] // gopacket pads short frames itself
	s, d := addr(src), addr(dst)
	proto := layers.IPProtocolIPv4
	if addr(p.src).Is6() {
		proto = layers.IPProtocolIPv6
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(portMAC1[:]), DstMAC: net.HardwareAddr(mac[:]), EthernetType: layers.EthernetTypeIPv4}
	var outer gopacket.SerializableLayer
	if s.Is4() {
		// The fixtures' inner IPv4 packets carry DF; inner IPv6 always sets it.
		outer = &layers.IPv4{Version: 4, IHL: 5, Id: id, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		outer = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, outer, gopacket.Payload(in)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	tunSyn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.30",
		proto: header.ProtocolTCP, sport: 40000, dport: 80, flags: syn, padTo: 60}
	tunUDP = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.30",
		proto: header.ProtocolUDP, sport: 40001, dport: 53, payload: []byte("q"), padTo: 60}
	tun4in6 = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.31",
		proto: header.ProtocolTCP, sport: 40002, dport: 80, flags: syn}
	tun6in6 = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: "2001:2::30",
		proto: header.ProtocolTCP, sport: 40003, dport: 80, flags: syn}
	tun6in4 = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: "2001:2::31",
		proto: header.ProtocolTCP, sport: 40004, dport: 80, flags: syn}
)

func TestProcessTunnelEncapsulates(t *testing.T) {
	d := newTunnelDataplane(t, nil)
	w := d.Workers[0]
	data := tunSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("GET / HTTP/1.1\r\n\r\n") })
	for i, c := range []struct {
		name     string
		in       pkt
		src, dst string
		mac      header.MAC
	}{
		{"4in4 SYN", tunSyn, "198.18.2.1", "198.18.2.2", realMAC2},
		{"4in4 data of the same connection", data, "198.18.2.1", "198.18.2.2", realMAC2},
		{"4in4 UDP, padding cut off", tunUDP, "198.18.2.1", "198.18.2.3", realMAC3},
		{"4in6", tun4in6, "2001:2:2::1", "2001:2:2::2", realMAC6},
		{"6in6", tun6in6, "2001:2:2::1", "2001:2:2::2", realMAC6},
		{"6in4", tun6in4, "198.18.2.1", "198.18.2.4", realMAC4},
	} {
		v, out := processInChunk(w, c.in.frame(t), 0, tunnelHeadroom)
		if v.action != actionTransmit || v.port != 1 {
			t.Fatalf("%s: process = %+v, want transmit on 1; drops %v", c.name, v, dropCounts(w))
		}
		// Outer IPv4 ids count this worker's tunnel packets: 1, 2, 3, ...
		want := encapsulated(t, c.in, c.src, c.dst, uint16(i+1), c.mac)
		if !bytes.Equal(out, want) {
			t.Fatalf("%s: frame differs\n got: %s\nwant: %s", c.name, dump(out), dump(want))
		}
	}
	if n := dropTotal(w); n != 0 {
		t.Fatalf("drops %v", dropCounts(w))
	}
}

func TestProcessTunnelDrops(t *testing.T) {
	d := newTunnelDataplane(t, []int{1500, 1400})
	w := d.Workers[0]
	// 1400 - 20 bytes of outer header leave 1380 for the inner packet.
	fits := tunUDP.with(func(p *pkt) { p.payload = make([]byte, 1380-28) })
	tooLarge := tunUDP.with(func(p *pkt) { p.payload = make([]byte, 1380-28+1); p.sport++ })
	unresolved := tunSyn.with(func(p *pkt) { p.dst = "198.18.0.32" })
	for _, c := range []struct {
		name     string
		in       []byte
		headroom int
		drop     string
		answered bool // an ICMP fragmentation-needed goes back instead
	}{
		{"inner packet fills the egress MTU", fits.frame(t), tunnelHeadroom, "", false},
		{"one byte more than the egress MTU, DF set", tooLarge.frame(t), tunnelHeadroom, "encap_too_large", true},
		{"no headroom to grow into", tunSyn.with(func(p *pkt) { p.sport = 1 }).frame(t), 19, "encap_too_large", false},
		{"real server's MAC unknown", unresolved.frame(t), tunnelHeadroom, "neighbor_unresolved", false},
	} {
		before := dropCounts(w)
		v, _ := processInChunk(w, c.in, 0, c.headroom)
		act := v.action
		after := dropCounts(w)
		if c.drop == "" {
			if act != actionTransmit {
				t.Fatalf("%s: dropped %v", c.name, after)
			}
			continue
		}
		before[c.drop]++
		wantAct := actionDrop
		if c.answered {
			wantAct = actionTransmit
		}
		if act != wantAct || !equalCounts(before, after) {
			t.Fatalf("%s: action %v, drops %v, want action %v and %s to grow by one", c.name, act, after, wantAct, c.drop)
		}
	}
	var want [16]byte
	if !d.Wants[0].Pop(&want) || want != addr("198.18.2.9").As16() {
		t.Fatalf("resolution not requested for the unresolved real server")
	}
}

// TestProcessTunnelFollowsSnapshot checks that a new next-hop snapshot (a
// changed MAC or source address) reaches established connections.
func TestProcessTunnelFollowsSnapshot(t *testing.T) {
	d := newTunnelDataplane(t, nil)
	w := d.Workers[0]
	if v, _ := processInChunk(w, tunSyn.frame(t), 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	moved := [][]netip.Prefix{tunnelPortAddrs[0], {netip.MustParsePrefix("198.18.2.100/24")}}
	d.hops = nexthop.NewStaticSnapshot([]header.MAC{portMAC0, portMAC1},
		[]nexthop.StaticRoute{{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 1}},
		map[netip.Addr]nexthop.StaticNeighbor{addr("198.18.2.2"): {MAC: realMAC4, Port: 1}}).WithPortAddresses(moved, nil)
	d.beginBatch()
	ack := tunSyn.with(func(p *pkt) { p.flags = ack })
	_, out := processInChunk(w, ack.frame(t), 0, tunnelHeadroom)
	if want := encapsulated(t, ack, "198.18.2.100", "198.18.2.2", 2, realMAC4); !bytes.Equal(out, want) {
		t.Fatalf("frame differs\n got: %s\nwant: %s", dump(out), dump(want))
	}
}

func TestProcessTunnelAllocatesNothing(t *testing.T) {
	d := newTunnelDataplane(t, nil)
	w := d.Workers[0]
	syn := tunSyn.frame(t)
	if v, _ := processInChunk(w, syn, 0, tunnelHeadroom); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	frame := tunSyn.with(func(p *pkt) { p.flags = ack }).frame(t)
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	allocs := testing.AllocsPerRun(1000, func() {
		copy(chunk[tunnelHeadroom:], frame)
		if v, _ := w.processIn(chunk, tunnelHeadroom, len(frame), 0); v.action != actionTransmit {
			t.Fatalf("dropped: %v", dropCounts(w))
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per tunnel packet, want 0", allocs)
	}
}

// BenchmarkProcessTunnel is one established TCP packet through process:
// lookup, state, encapsulation.
func BenchmarkProcessTunnel(b *testing.B) { benchmarkTunnel(b, newTunnelDataplane(b, nil)) }

func benchmarkTunnel(b *testing.B, d *memDataplane) {
	w := d.Workers[0]
	if v, _ := processInChunk(w, tunSyn.frame(b), 0, tunnelHeadroom); v.action != actionTransmit {
		b.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	frame := tunSyn.with(func(p *pkt) { p.flags = ack }).frame(b)
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	b.ReportAllocs()
	for b.Loop() {
		copy(chunk[tunnelHeadroom:], frame)
		w.processIn(chunk, tunnelHeadroom, len(frame), 0)
	}
}
