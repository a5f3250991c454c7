package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// step is one row of a packet fixture: a frame arrives on a port of a
// worker, and process must answer act/arg, leaving want in the frame
// (transmit) or counting the named drop.
type step struct {
	name   string
	worker int
	port   int
	in     []byte
	act    action
	arg    int    // port for transmit, worker for handoff
	want   []byte // the frame after process, for transmit
	drop   string // the counter that must grow by one, for drop
}

func transmit(port int, want []byte) (action, int, []byte) { return actionTransmit, port, want }

// runSteps feeds the rows in order to one dataplane: later rows see the
// connections earlier rows made.
func runSteps(t *testing.T, d *memDataplane, steps []step) {
	t.Helper()
	for _, s := range steps {
		w := d.Workers[s.worker]
		before := dropCounts(w)
		frame := append([]byte(nil), s.in...)
		v := w.processFrame(frame, s.port)
		act, arg := v.action, v.port
		if act == actionHandoff {
			arg = v.owner
		}
		if act != s.act || arg != s.arg {
			t.Fatalf("%s: process = %+v, want (%v, %d); drops %v", s.name, v, s.act, s.arg, dropCounts(w))
		}
		after := dropCounts(w)
		switch act {
		case actionTransmit:
			if !bytes.Equal(frame, s.want) {
				t.Fatalf("%s: frame differs\n got: %s\nwant: %s", s.name, dump(frame), dump(s.want))
			}
			if !equalCounts(before, after) {
				t.Fatalf("%s: transmitted but drops changed %v -> %v", s.name, before, after)
			}
		case actionHandoff:
			if !bytes.Equal(frame, s.in) {
				t.Fatalf("%s: a handed-over frame must be untouched\n got: %s", s.name, dump(frame))
			}
			if !equalCounts(before, after) {
				t.Fatalf("%s: handed over but drops changed %v -> %v", s.name, before, after)
			}
		case actionDrop:
			before[s.drop]++
			if !equalCounts(before, after) {
				t.Fatalf("%s: drops %v, want %s to grow by one (from %v)", s.name, after, s.drop, dropCounts(w))
			}
		}
	}
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func dump(frame []byte) string {
	return gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).String()
}

// Packets as the client and the real servers send them.
var (
	drSyn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.10",
		proto: header.ProtocolTCP, sport: 40000, dport: 80, flags: syn, padTo: 60}
	natSyn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
		proto: header.ProtocolTCP, sport: 40001, dport: 80, flags: syn, padTo: 60}
	natUDP = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
		proto: header.ProtocolUDP, sport: 40002, dport: 53, payload: []byte("query\x00\x01"), padTo: 60}
	nat6Syn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: "2001:2::20",
		proto: header.ProtocolTCP, sport: 40003, dport: 80, flags: syn}
)

// toReal is the client's packet as it leaves towards the real server.
func (p pkt) toReal(real string, port uint16, mac header.MAC) pkt {
	p.srcMAC, p.dstMAC = portMAC1, mac
	p.dst, p.dport = real, port
	return p
}

// fromReal is the real server's reply to p (as it left towards the real).
func (p pkt) fromReal(flags uint8) pkt {
	r := p.reply()
	r.flags = flags
	return r
}

func TestProcessDirectRouting(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	est := drSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("GET / HTTP/1.0\r\n\r\n") })
	fin := drSyn.with(func(p *pkt) { p.flags = finAck })
	// DR: only the MACs change; the VIP stays the destination.
	dr := func(p pkt) []byte { return p.with(func(p *pkt) { p.srcMAC, p.dstMAC = portMAC1, realMAC2 }).frame(t) }
	steps := []step{
		{name: "SYN picks the real server", in: drSyn.frame(t)},
		{name: "established data follows", in: est.frame(t)},
		{name: "FIN follows", in: fin.frame(t)},
	}
	wants := []pkt{drSyn, est, fin}
	for i := range steps {
		steps[i].act, steps[i].arg, steps[i].want = transmit(1, dr(wants[i]))
	}
	runSteps(t, d, steps)
	d.Workers[0].publish()
	if n := d.Workers[0].Stats.Count(CountNewConns); n != 1 {
		t.Fatalf("new connections = %d, want 1", n)
	}
}

func TestProcessNAT(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	natOut := natSyn.toReal("198.18.2.2", 8080, realMAC2)
	synAckIn := natOut.fromReal(synAck)
	synAckOut := natSyn.reply().with(func(p *pkt) { p.flags = synAck; p.srcMAC, p.dstMAC = portMAC0, clientMAC })
	data := natSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") })

	udpOut := natUDP.toReal("198.18.2.3", 5353, realMAC3)
	udpReply := udpOut.reply().with(func(p *pkt) { p.payload = []byte("answer") })
	udpBack := natUDP.reply().with(func(p *pkt) { p.srcMAC, p.dstMAC = portMAC0, clientMAC; p.payload = []byte("answer") })
	noSum := func(p pkt) pkt { p.noUDPSum = true; p.sport++; return p }
	udpNoSum := noSum(natUDP)
	udpNoSumOut := noSum(udpOut)
	udpNoSumReply := udpReply.with(func(p *pkt) { p.noUDPSum = true; p.dport++ })
	udpNoSumBack := udpBack.with(func(p *pkt) { p.noUDPSum = true; p.dport++ })

	v6Out := nat6Syn.toReal("2001:2:2::2", 8080, realMAC6)
	v6Reply := v6Out.fromReal(synAck)
	v6Back := nat6Syn.reply().with(func(p *pkt) { p.flags = synAck; p.srcMAC, p.dstMAC = portMAC0, clientMAC })

	steps := []step{
		{name: "inbound SYN: VIP:80 becomes RIP:8080", port: 0, in: natSyn.frame(t)},
		{name: "SYN-ACK: RIP:8080 becomes VIP:80 towards the client", port: 1, in: synAckIn.frame(t)},
		{name: "inbound data", port: 0, in: data.frame(t)},
		{name: "UDP inbound", port: 0, in: natUDP.frame(t)},
		{name: "UDP reply", port: 1, in: udpReply.frame(t)},
		{name: "UDP inbound without checksum keeps 0", port: 0, in: udpNoSum.frame(t)},
		{name: "UDP reply without checksum keeps 0", port: 1, in: udpNoSumReply.frame(t)},
		{name: "IPv6 inbound SYN", port: 0, in: nat6Syn.frame(t)},
		{name: "IPv6 SYN-ACK", port: 1, in: v6Reply.frame(t)},
	}
	wants := []struct {
		port int
		p    pkt
	}{
		{1, natOut}, {0, synAckOut}, {1, data.toReal("198.18.2.2", 8080, realMAC2)},
		{1, udpOut}, {0, udpBack}, {1, udpNoSumOut}, {0, udpNoSumBack},
		{1, v6Out}, {0, v6Back},
	}
	for i := range steps {
		steps[i].act, steps[i].arg, steps[i].want = transmit(wants[i].port, wants[i].p.routed().frame(t))
	}
	runSteps(t, d, steps)

	// The checksum-less datagrams really went out without a checksum.
	for _, s := range steps[5:7] {
		var p header.Packet
		if p.Parse(s.want) != header.ParseOK || p.UDP().Checksum() != 0 {
			t.Fatalf("%s: fixture should carry UDP checksum 0", s.name)
		}
	}
	st := d.Registry.ServiceOf(testSpec().Services[1].Key())
	if got := Sum(st.Stats); got.Conns != 1 || got.InPackets != 2 || got.OutPackets != 1 {
		t.Fatalf("nat service traffic = %+v, want 1 conn, 2 in, 1 out", got)
	}
}

// TestProcessDrops checks each drop reason by its counter's name.
func TestProcessDrops(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	valid := natSyn.frame(t)
	corrupt := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), valid...)) }
	ipv4 := header.EthernetMinimumSize
	tcp := ipv4 + header.IPv4MinimumSize
	unsupported := natSyn.with(func(p *pkt) { p.proto = 47; p.padTo = 0 }) // GRE
	udpShort := corrupt(func(b []byte) []byte {
		b[ipv4+9] = header.ProtocolUDP
		binary.BigEndian.PutUint16(b[tcp+4:], 4) // UDP length below its header
		return b
	})
	steps := []step{
		{name: "non-SYN without connection", in: natSyn.with(func(p *pkt) { p.flags = ack }).frame(t), drop: "tcp_not_syn"},
		{name: "SYN-ACK without connection", in: natSyn.with(func(p *pkt) { p.flags = synAck }).frame(t), drop: "tcp_not_syn"},
		{name: "RST without connection", in: natSyn.with(func(p *pkt) { p.flags = rst }).frame(t), drop: "tcp_not_syn"},
		{name: "reply without connection", port: 1, in: natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck).frame(t), drop: "reply_no_conn"},
		{name: "empty frame", in: nil, drop: "too_short"},
		{name: "Ethernet header only", in: valid[:14], drop: "too_short"},
		{name: "IPv4 header cut", in: valid[:ipv4+12], drop: "too_short"},
		{name: "IPv4 total length past the frame", in: valid[:tcp+10], drop: "too_short"},
		{name: "IPv4 header length 16", in: corrupt(func(b []byte) []byte { b[ipv4] = 0x44; return b }), drop: "bad_ipv4"},
		{name: "IPv4 total length below the header", in: corrupt(func(b []byte) []byte { binary.BigEndian.PutUint16(b[ipv4+2:], 12); return b }), drop: "bad_ipv4"},
		{name: "IP version 5", in: corrupt(func(b []byte) []byte { b[ipv4] = 0x55; return b }), drop: "bad_ipv4"},
		{name: "IPv6 EtherType with a v4 header", in: corrupt(func(b []byte) []byte { b[12], b[13] = 0x86, 0xdd; return append(b, make([]byte, 40)...) }), drop: "bad_ipv6"},
		{name: "ARP", in: corrupt(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }), drop: "not_ip"},
		{name: "fragment of GRE", in: corrupt(func(b []byte) []byte { b[ipv4+6], b[ipv4+9] = 0x20, 47; return b }), drop: "unsupported_l4"},
		{name: "TCP data offset 4", in: corrupt(func(b []byte) []byte { b[tcp+12] = 0x40; return b }), drop: "bad_tcp"},
		{name: "UDP length 4", in: udpShort, drop: "bad_udp"},
		{name: "GRE", in: unsupported.frame(t), drop: "unsupported_l4"},
		{name: "neighbour not resolved yet", in: natSyn.with(func(p *pkt) { p.dst = "198.18.0.50" }).frame(t), drop: "neighbor_unresolved"},
		{name: "no route to the real server", in: natSyn.with(func(p *pkt) { p.dst = "198.18.0.51" }).frame(t), drop: "no_route"},
	}
	runSteps(t, d, steps)

	var want [16]byte
	if !d.Wants[0].Pop(&want) || want != addr("198.18.2.9").As16() {
		t.Fatalf("want queue holds %v, want 198.18.2.9", netip.AddrFrom16(want).Unmap())
	}
	if d.Wants[0].Pop(&want) {
		t.Fatalf("want queue holds a second address %v; no_route must not ask", netip.AddrFrom16(want).Unmap())
	}
	if n := d.Workers[0].conns.Len(); n != 2 {
		t.Fatalf("connections = %d, want 2 (the unresolved and unroutable SYNs)", n)
	}
}

// TestProcessQuiescent: a real server set to weight 0 keeps its
// connections and gets no new one, across a table swap.
func TestProcessQuiescent(t *testing.T) {
	spec := TableSpec{Services: []ServiceSpec{{
		Name: "q", VIP: addr("198.18.0.30"), Port: 80, Proto: ProtoTCP, Scheduler: "wrr", Method: MethodNAT,
		Reals: []RealSpec{realAt("198.18.2.2", 8080, 1)},
	}}}
	d := newMemDataplane(t, spec, 1, 1024)
	syn1 := natSyn.with(func(p *pkt) { p.dst = "198.18.0.30"; p.sport = 41000 })
	out1 := syn1.toReal("198.18.2.2", 8080, realMAC2).routed()
	data1 := syn1.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("x") })
	runSteps(t, d, []step{{name: "SYN before quiesce", in: syn1.frame(t), act: actionTransmit, arg: 1, want: out1.frame(t)}})

	spec.Services[0].Reals[0].Weight = 0
	d.publish(t, spec)
	d.advance(time.Millisecond)
	syn2 := syn1.with(func(p *pkt) { p.sport = 41001 })
	runSteps(t, d, []step{
		{name: "new SYN to a quiescent server", in: syn2.frame(t), drop: "no_real_server"},
		{name: "existing connection keeps flowing", in: data1.frame(t), act: actionTransmit, arg: 1,
			want: data1.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t)},
		{name: "and its replies too", port: 1, in: out1.fromReal(ack).frame(t), act: actionTransmit, arg: 0,
			want: syn1.reply().with(func(p *pkt) { p.flags = ack; p.srcMAC, p.dstMAC = portMAC0, clientMAC }).routed().frame(t)},
	})

	// expire_nodest_conn: once the server leaves the table, its
	// connection's packets drop and the connection goes.
	spec.Services[0].Reals = []RealSpec{realAt("198.18.2.3", 8080, 1)}
	spec.ExpireNodestConn = true
	d.publish(t, spec)
	d.advance(time.Millisecond)
	runSteps(t, d, []step{
		{name: "removed server's connection", in: data1.frame(t), drop: "real_server_removed"},
		{name: "a new SYN of the same tuple goes to the new server", in: syn1.frame(t), act: actionTransmit, arg: 1,
			want: syn1.toReal("198.18.2.3", 8080, realMAC3).routed().frame(t)},
	})
}

func TestProcessConnTableFull(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 2)
	syn := func(port uint16) pkt { return drSyn.with(func(p *pkt) { p.sport = port }) }
	out := func(p pkt) []byte { return p.with(func(p *pkt) { p.srcMAC, p.dstMAC = portMAC1, realMAC2 }).frame(t) }
	ackOf := func(port uint16) pkt { return syn(port).with(func(p *pkt) { p.flags = ack }) }
	runSteps(t, d, []step{
		{name: "first", in: syn(1).frame(t), act: actionTransmit, arg: 1, want: out(syn(1))},
		{name: "first established", in: ackOf(1).frame(t), act: actionTransmit, arg: 1, want: out(ackOf(1))},
		{name: "second, half open", in: syn(2).frame(t), act: actionTransmit, arg: 1, want: out(syn(2))},
		{name: "third evicts the half-open second", in: syn(3).frame(t), act: actionTransmit, arg: 1, want: out(syn(3))},
		{name: "third established", in: ackOf(3).frame(t), act: actionTransmit, arg: 1, want: out(ackOf(3))},
		{name: "fourth finds the table full of established connections", in: syn(4).frame(t), drop: "conn_table_full"},
		{name: "established still flows", in: ackOf(1).frame(t), act: actionTransmit, arg: 1, want: out(ackOf(1))},
	})
	w := d.Workers[0]
	w.publish()
	if n := w.Stats.Count(CountEmbryonicEvicted); n != 1 {
		t.Fatalf("embryonic evictions %d, want 1", n)
	}
}

// TestProcessPersistence: a client's new connections stick to one real
// server; the /24 netmask makes its neighbours share the template.
func TestProcessPersistence(t *testing.T) {
	reals := []RealSpec{realAt("198.18.2.2", 443, 1), realAt("198.18.2.3", 443, 1), realAt("198.18.2.4", 443, 1)}
	spec := TableSpec{Services: []ServiceSpec{
		{Name: "sticky", VIP: addr("198.18.0.40"), Port: 443, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR,
			Persistence: 300 * time.Second, PersistenceBits: 24, Reals: reals},
		{Name: "loose", VIP: addr("198.18.0.41"), Port: 443, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR, Reals: reals},
	}}
	d := newMemDataplane(t, spec, 1, 1024)
	w := d.Workers[0]
	realOf := func(client, vip string, sport uint16) header.MAC {
		t.Helper()
		mac := clientMAC
		if addr(client).Is4() && !netip.MustParsePrefix("198.18.1.0/24").Contains(addr(client)) {
			mac = routerMAC
		}
		frame := pkt{srcMAC: mac, dstMAC: portMAC0, src: client, dst: vip, proto: header.ProtocolTCP,
			sport: sport, dport: 443, flags: syn}.frame(t)
		if v := w.processFrame(frame, 0); v.action != actionTransmit || v.port != 1 {
			t.Fatalf("SYN %s:%d -> %s: %+v, drops %v", client, sport, vip, v, dropCounts(w))
		}
		return header.Ethernet(frame).DestinationAddress()
	}
	first := realOf("198.18.1.5", "198.18.0.40", 50000)
	for sport := uint16(50001); sport < 50010; sport++ {
		if got := realOf("198.18.1.5", "198.18.0.40", sport); got != first {
			t.Fatalf("port %d went to %v, want %v (persistence)", sport, got, first)
		}
	}
	if got := realOf("198.18.1.6", "198.18.0.40", 50000); got != first {
		t.Fatalf("a neighbour in the same /24 went to %v, want %v", got, first)
	}
	if got := realOf("198.18.64.7", "198.18.0.40", 50000); got == first {
		t.Fatalf("another /24 went to %v as well; rr should pick the next server for a new template", got)
	}
	if n := w.conns.TemplateLen(); n != 2 {
		t.Fatalf("templates = %d, want 2 (one per /24)", n)
	}
	// Control: without persistence, rr spreads the same client's connections.
	if a, b := realOf("198.18.1.5", "198.18.0.41", 50000), realOf("198.18.1.5", "198.18.0.41", 50001); a == b {
		t.Fatalf("non-persistent rr sent two connections to %v", a)
	}
}

// TestProcessHandoff: with two workers, a packet whose client another
// worker owns is handed over untouched, and both directions of a NAT
// connection name the same owner.
func TestProcessHandoff(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 2, 1024)
	table := d.tables.Load()
	var client string
	for i := range 256 {
		a := netip.AddrFrom4([4]byte{198, 18, 64, byte(i)})
		a16 := a.As16()
		if table.owners.ownerOf(&a16, 128, 2) == 1 {
			client = a.String()
			break
		}
	}
	if client == "" {
		t.Fatal("no client in 198.18.64.0/24 hashes to worker 1")
	}
	in := natSyn.with(func(p *pkt) { p.src = client; p.srcMAC = routerMAC })
	out := in.toReal("198.18.2.2", 8080, realMAC2)
	reply := out.fromReal(synAck)
	back := in.reply().with(func(p *pkt) { p.flags = synAck; p.srcMAC, p.dstMAC = portMAC0, routerMAC })
	runSteps(t, d, []step{
		{name: "SYN on worker 0 belongs to worker 1", worker: 0, in: in.frame(t), act: actionHandoff, arg: 1},
		{name: "worker 1 forwards it", worker: 1, in: in.frame(t), act: actionTransmit, arg: 1, want: out.routed().frame(t)},
		{name: "the reply on worker 0 also belongs to worker 1", worker: 0, port: 1, in: reply.frame(t), act: actionHandoff, arg: 1},
		{name: "worker 1 translates the reply", worker: 1, port: 1, in: reply.frame(t), act: actionTransmit, arg: 0, want: back.routed().frame(t)},
	})
	if n := d.Workers[0].conns.Len(); n != 0 {
		t.Fatalf("worker 0 holds %d connections, want 0", n)
	}
}

// TestProcessTCPStates: connections follow IPVS's TCP state machine from
// their first packet, so a SYN starts SYN_RECV and the handshake's ACK makes
// the connection ESTABLISHED and counted active.
func TestProcessTCPStates(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	state := func(p pkt) conntrack.State {
		t.Helper()
		tuple := conntrack.Tuple{Src: addr(p.src).As16(), Dst: addr(p.dst).As16(), SrcPort: p.sport, DstPort: p.dport, Proto: p.proto}
		ref, _ := w.conns.Lookup(&tuple)
		if ref == 0 {
			t.Fatalf("no connection for %s:%d", p.src, p.sport)
		}
		return w.conns.Conn(ref).State
	}
	send := func(p pkt, port int) {
		t.Helper()
		if v := w.processFrame(p.frame(t), port); v.action != actionTransmit {
			t.Fatalf("%+v dropped: %v", p, dropCounts(w))
		}
	}
	drLoad := d.Registry.RealOf(testSpec().Services[0].Key(), addr("198.18.2.2"), 80).Load
	send(drSyn, 0)
	if s := state(drSyn); s != conntrack.StateSynRecv {
		t.Fatalf("DR after SYN: %v, want SYN_RECV", s)
	}
	send(drSyn.with(func(p *pkt) { p.flags = ack }), 0)
	if s := state(drSyn); s != conntrack.StateEstablished {
		t.Fatalf("DR after the handshake's ACK: %v, want ESTABLISHED", s)
	}
	if drLoad.Active() != 1 || drLoad.Inactive() != 0 {
		t.Fatalf("DR real load active %d inactive %d, want 1 0", drLoad.Active(), drLoad.Inactive())
	}

	send(natSyn, 0)
	if s := state(natSyn); s != conntrack.StateSynRecv {
		t.Fatalf("NAT after SYN: %v, want SYN_RECV", s)
	}
	send(natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck), 1)
	send(natSyn.with(func(p *pkt) { p.flags = ack }), 0)
	if s := state(natSyn); s != conntrack.StateEstablished {
		t.Fatalf("NAT after the handshake: %v, want ESTABLISHED", s)
	}
}

// TestProcessChecksumsVerify re-reads every transmitted fixture frame: the
// incremental updates must leave checksums that verify in full.
func TestProcessChecksumsVerify(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	for _, in := range []pkt{drSyn, natSyn, natUDP, nat6Syn} {
		for _, size := range []int{0, 1, 7, 100, 1400} {
			p := in.with(func(p *pkt) {
				p.payload = bytes.Repeat([]byte{0xa5, 0x5a, 0xff}, size)[:size]
				p.sport += uint16(size)
			})
			frame := p.frame(t)
			if v := w.processFrame(frame, 0); v.action != actionTransmit {
				t.Fatalf("%s:%d size %d dropped: %v", p.dst, p.dport, size, dropCounts(w))
			}
			var parsed header.Packet
			if r := parsed.Parse(frame); r != header.ParseOK {
				t.Fatalf("rewritten frame does not parse: %v", r)
			}
			if !parsed.IsIPv6 && !parsed.IPv4().IsChecksumValid() {
				t.Fatalf("%s size %d: IPv4 header checksum invalid", p.dst, size)
			}
			if !l4ChecksumValid(&parsed) {
				t.Fatalf("%s size %d: L4 checksum invalid\n%s", p.dst, size, dump(frame))
			}
		}
	}
}
