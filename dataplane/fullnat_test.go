package dataplane

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"fastlvs/header"
)

// fullnatSpec: FULLNAT services for TCP, UDP and IPv6, each with one real
// server, and one with a single local address for the exhaustion tests.
func fullnatSpec() TableSpec {
	locals := []netip.Addr{addr("198.18.3.1"), addr("198.18.3.2")}
	return TableSpec{Services: []ServiceSpec{
		{Name: "fnat", VIP: addr("198.18.0.30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodFullNAT,
			LocalAddresses: locals, Reals: []RealSpec{realAt("198.18.2.2", 8080, 1)}},
		{Name: "fnat-udp", VIP: addr("198.18.0.30"), Port: 53, Proto: ProtoUDP, Scheduler: "rr", Method: MethodFullNAT,
			LocalAddresses: locals, Reals: []RealSpec{realAt("198.18.2.3", 5353, 1)}},
		{Name: "fnat6", VIP: addr("2001:2::30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodFullNAT,
			LocalAddresses: []netip.Addr{addr("2001:2:3::1")}, Reals: []RealSpec{realAt("2001:2:2::2", 8080, 1)}},
		{Name: "fnat-one", VIP: addr("198.18.0.31"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodFullNAT,
			LocalAddresses: []netip.Addr{addr("198.18.3.9")}, Reals: []RealSpec{realAt("198.18.2.4", 80, 1)}},
	}}
}

var (
	fnatSyn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.30",
		proto: header.ProtocolTCP, sport: 40001, dport: 80, flags: syn, padTo: 60}
	fnatUDP = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.30",
		proto: header.ProtocolUDP, sport: 40002, dport: 53, payload: []byte("query\x00\x01"), padTo: 60}
	fnat6Syn = pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "2001:2:1::5", dst: "2001:2::30",
		proto: header.ProtocolTCP, sport: 40003, dport: 80, flags: syn}
)

// viaLocal is the client's packet as FULLNAT sends it to the real server:
// from local:lport.
func (p pkt) viaLocal(local string, lport uint16, real string, rport uint16, mac header.MAC) pkt {
	p = p.toReal(real, rport, mac)
	p.src, p.sport = local, lport
	return p.routed()
}

// toClient is p (a client's packet) turned around as the director sends the
// answer: from the VIP, out of port 0.
func (p pkt) toClient(flags uint8, payload []byte) pkt {
	r := p.reply()
	r.flags, r.payload = flags, payload
	r.srcMAC, r.dstMAC = portMAC0, clientMAC
	return r.routed()
}

func TestProcessFullNAT(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1024)
	// Local addresses are taken round robin; one worker owns every port, and
	// walks each real server's ports from 1024 up.
	synOut := fnatSyn.viaLocal("198.18.3.1", 1024, "198.18.2.2", 8080, realMAC2)
	synAckIn := synOut.fromReal(synAck)
	data := fnatSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") })
	dataOut := data.viaLocal("198.18.3.1", 1024, "198.18.2.2", 8080, realMAC2)
	answerIn := synOut.fromReal(pshAck).with(func(p *pkt) { p.payload = []byte("HTTP/1.1 200 OK\r\n\r\n") })

	syn2 := fnatSyn.with(func(p *pkt) { p.sport = 40011 })
	syn2Out := syn2.viaLocal("198.18.3.2", 1025, "198.18.2.2", 8080, realMAC2)
	synAck2In := syn2Out.fromReal(synAck)

	udpOut := fnatUDP.viaLocal("198.18.3.1", 1024, "198.18.2.3", 5353, realMAC3)
	udpReply := udpOut.reply().with(func(p *pkt) { p.payload = []byte("answer") })
	noSum := fnatUDP.with(func(p *pkt) { p.noUDPSum = true; p.sport++ })
	noSumOut := noSum.viaLocal("198.18.3.2", 1025, "198.18.2.3", 5353, realMAC3)
	noSumReply := noSumOut.reply().with(func(p *pkt) { p.payload = []byte("answer"); p.noUDPSum = false })

	v6Out := fnat6Syn.viaLocal("2001:2:3::1", 1024, "2001:2:2::2", 8080, realMAC6)
	v6Back := v6Out.fromReal(synAck)

	steps := []step{
		{name: "SYN: client→local:lport, VIP→RIP", in: fnatSyn.frame(t), act: actionTransmit, arg: 1, want: synOut.frame(t)},
		{name: "SYN-ACK to local:lport goes back as VIP→client", in: synAckIn.frame(t), port: 1,
			act: actionTransmit, arg: 0, want: fnatSyn.toClient(synAck, nil).frame(t)},
		{name: "client data keeps its local port", in: data.frame(t), act: actionTransmit, arg: 1, want: dataOut.frame(t)},
		{name: "server data back to the client", in: answerIn.frame(t), port: 1, act: actionTransmit, arg: 0,
			want: fnatSyn.toClient(pshAck, []byte("HTTP/1.1 200 OK\r\n\r\n")).frame(t)},
		{name: "second connection takes the second local address", in: syn2.frame(t), act: actionTransmit, arg: 1, want: syn2Out.frame(t)},
		{name: "its reply finds it by that address", in: synAck2In.frame(t), port: 1, act: actionTransmit, arg: 0,
			want: syn2.toClient(synAck, nil).frame(t)},
		{name: "UDP request", in: fnatUDP.frame(t), act: actionTransmit, arg: 1, want: udpOut.frame(t)},
		{name: "UDP reply", in: udpReply.frame(t), port: 1, act: actionTransmit, arg: 0,
			want: fnatUDP.toClient(0, []byte("answer")).frame(t)},
		{name: "UDP without checksum stays without", in: noSum.frame(t), act: actionTransmit, arg: 1,
			want: noSumOut.frame(t)},
		{name: "UDP reply with checksum to a request without", in: noSumReply.frame(t), port: 1, act: actionTransmit, arg: 0,
			want: noSum.toClient(0, []byte("answer")).with(func(p *pkt) { p.noUDPSum = false }).frame(t)},
		{name: "IPv6 SYN", in: fnat6Syn.frame(t), act: actionTransmit, arg: 1, want: v6Out.frame(t)},
		{name: "IPv6 SYN-ACK", in: v6Back.frame(t), port: 1, act: actionTransmit, arg: 0,
			want: fnat6Syn.toClient(synAck, nil).frame(t)},
		{name: "reply to a local port nobody holds", in: synAckIn.with(func(p *pkt) { p.dport = 2000 }).frame(t), port: 1,
			drop: DropReplyNoConn.String()},
	}
	runSteps(t, d, steps)
	for _, s := range steps {
		if s.act != actionTransmit {
			continue
		}
		var p header.Packet
		if r := p.Parse(s.want); r != header.ParseOK {
			t.Fatalf("%s: expected frame does not parse: %v", s.name, r)
		}
		if !l4ChecksumValid(&p) || (!p.IsIPv6 && !p.IPv4().IsChecksumValid()) {
			t.Fatalf("%s: the expected frame's checksums do not verify", s.name)
		}
	}
}

// TestFullNATPortOwnership: with two workers, every connection's local port
// is one its worker owns, and a reply arriving at the other worker is
// handed over to the owner, which sends it to the client.
func TestFullNATPortOwnership(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 2, 1024)
	table := d.tables.Load()
	var w *Worker
	for i := range 40 {
		syn := fnatSyn.with(func(p *pkt) { p.src = "198.18.1." + strconv.Itoa(5+i%2); p.sport = uint16(41000 + i) })
		client := addr(syn.src).Unmap().As16()
		owner := table.owners.ownerOf(&client, 128, 2)
		other := d.Workers[1-owner]
		if v := other.processFrame(syn.frame(t), 0); v.action != actionHandoff || v.owner != owner {
			t.Fatalf("SYN at worker %d: %+v, want handoff to %d", 1-owner, v, owner)
		}
		w = d.Workers[owner]
		frame := syn.frame(t)
		if v := w.processFrame(frame, 0); v.action != actionTransmit {
			t.Fatalf("SYN at its owner dropped: %v", dropCounts(w))
		}
		var out header.Packet
		out.Parse(frame)
		lport := out.SrcPort
		if int(lport)%2 != owner || lport < localPortFirst {
			t.Fatalf("worker %d bound local port %d", owner, lport)
		}
		reply := syn.fromReal(synAck).with(func(p *pkt) {
			p.src, p.sport, p.dst, p.dport = "198.18.2.2", 8080, netip.AddrFrom16(out.Src).Unmap().String(), lport
			p.srcMAC, p.dstMAC = realMAC2, portMAC1
		})
		if v := other.processFrame(reply.frame(t), 1); v.action != actionHandoff || v.owner != owner {
			t.Fatalf("reply to port %d at worker %d: %+v, want handoff to %d", lport, 1-owner, v, owner)
		}
		back := reply.frame(t)
		if v := w.processFrame(back, 1); v.action != actionTransmit || v.port != 0 {
			t.Fatalf("reply at its owner: %+v, drops %v", v, dropCounts(w))
		}
		if want := syn.toClient(synAck, nil).frame(t); string(back) != string(want) {
			t.Fatalf("reply at its owner\n got: %s\nwant: %s", dump(back), dump(want))
		}
	}
	for _, w := range d.Workers {
		if n := dropTotal(w); n != 0 {
			t.Fatalf("worker %d dropped %v", w.ID, dropCounts(w))
		}
	}
}

// TestFullNATExhaustionAndRelease: one local address gives one worker
// 64512 connections towards each real server; the next one towards a full
// real server is dropped as local_ports_exhausted, and connections that
// expire give their ports back.
func TestFullNATExhaustionAndRelease(t *testing.T) {
	const ports = localPortLast - localPortFirst + 1
	spec := fullnatSpec()
	one := &spec.Services[3] // fnat-one: a single local address
	one.Reals = append(one.Reals, realAt("198.18.2.3", 80, 1))
	d := newMemDataplane(t, spec, 1, 2*ports+1024)
	w := d.Workers[0]
	tmpl := pkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.64.0", dst: "198.18.0.31",
		proto: header.ProtocolTCP, sport: 1024, dport: 80, flags: syn, padTo: 60}.frame(t)
	buf := make([]byte, len(tmpl))
	send := func(i int) verdict {
		copy(buf, tmpl)
		stampClient(buf, i)
		return w.processFrame(buf, 0)
	}
	type toReal struct {
		real [4]byte
		port uint16
	}
	seen := map[toReal]bool{}
	for i := range 2 * ports { // rr alternates between the two real servers
		if v := send(i); v.action != actionTransmit {
			t.Fatalf("connection %d dropped: %v", i, dropCounts(w))
		}
		k := toReal{[4]byte(buf[offIPv4Dst : offIPv4Dst+4]), binary.BigEndian.Uint16(buf[offSrcPort:])}
		if seen[k] || k.port < localPortFirst {
			t.Fatalf("connection %d got local port %d towards %v (taken before, or reserved)", i, k.port, k.real)
		}
		seen[k] = true
	}
	copy(buf, tmpl)
	stampClient(buf, 2*ports)
	runSteps(t, d, []step{{name: "every port towards the real server taken", in: buf, drop: DropLocalPortsExhausted.String()}})
	if n := w.conns.Len(); n != 2*ports {
		t.Fatalf("%d connections after exhaustion, want %d (a refused SYN leaves none)", n, 2*ports)
	}
	// SYN_RECV lasts 60 s: let every connection expire.
	d.advance(10 * time.Minute)
	for range 8 {
		w.conns.Expire(w.now, 1<<20, w.expireFn)
	}
	if n := w.conns.Len(); n != 0 {
		t.Fatalf("%d connections left after expiry", n)
	}
	for i := range 4 {
		if v := send(2*ports + 1 + i); v.action != actionTransmit {
			t.Fatalf("SYN %d after expiry dropped: %v", i, dropCounts(w))
		}
	}
}

// TestFullNATPoolsSurviveTableSwap: a new table keeps the ports held by
// existing connections; a new local address gets its own pool.
func TestFullNATPoolsSurviveTableSwap(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1024)
	w := d.Workers[0]
	first := fnatSyn.frame(t)
	if v := w.processFrame(first, 0); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	spec := fullnatSpec()
	spec.Services[0].LocalAddresses = append(spec.Services[0].LocalAddresses, addr("198.18.3.3"))
	d.publish(t, spec)
	d.beginBatch()
	if !d.tables.Load().isLocalAddress(ptr(addr("198.18.3.3").As16())) {
		t.Fatal("the new local address is not in the table's set")
	}
	got := map[string]uint16{}
	for i := range 3 {
		frame := fnatSyn.with(func(p *pkt) { p.sport = uint16(42000 + i) }).frame(t)
		if v := w.processFrame(frame, 0); v.action != actionTransmit {
			t.Fatalf("SYN %d dropped: %v", i, dropCounts(w))
		}
		var p header.Packet
		p.Parse(frame)
		got[netip.AddrFrom16(p.Src).Unmap().String()] = p.SrcPort
	}
	// Round robin goes on over three addresses; 198.18.3.1:1024 is still
	// held by the first connection.
	for a, port := range got {
		if a == "198.18.3.1" && port == 1024 {
			t.Fatalf("port 1024 of 198.18.3.1 handed out twice: %v", got)
		}
	}
	if len(got) != 3 {
		t.Fatalf("three connections used local addresses %v, want all three", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestFullNATAllocs: new connections (binding a local port), established
// packets and replies allocate nothing.
func TestFullNATAllocs(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1<<14)
	w := d.Workers[0]
	flow := pkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.64.0", dst: "198.18.0.30",
		proto: header.ProtocolTCP, sport: 1024, dport: 80, flags: syn, padTo: 60}
	tmpl := flow.frame(t)
	buf := make([]byte, len(tmpl))
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, tmpl)
		stampClient(buf, i)
		i++
		if v := w.processFrame(buf, 0); v.action != actionTransmit {
			t.Fatalf("SYN dropped: %v", dropCounts(w))
		}
	}); n != 0 {
		t.Errorf("new connection: %v allocations per packet, want 0", n)
	}
	est := flow.with(func(p *pkt) { p.sport = 9; p.flags = syn }).frame(t)
	if v := w.processFrame(est, 0); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	var out header.Packet
	out.Parse(est)
	reply := pkt{srcMAC: realMAC2, dstMAC: portMAC1, src: "198.18.2.2", dst: netip.AddrFrom16(out.Src).Unmap().String(),
		proto: header.ProtocolTCP, sport: 8080, dport: out.SrcPort, flags: ack, padTo: 60}.frame(t)
	in := flow.with(func(p *pkt) { p.sport = 9; p.flags = ack }).frame(t)
	for _, c := range []struct {
		name  string
		frame []byte
		port  int
	}{{"established", in, 0}, {"reply", reply, 1}} {
		if n := testing.AllocsPerRun(1000, func() {
			copy(buf, c.frame)
			if v := w.processFrame(buf, c.port); v.action != actionTransmit {
				t.Fatalf("%s dropped: %v", c.name, dropCounts(w))
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", c.name, n)
		}
	}
	// Expiry gives ports back without allocating either.
	d.advance(10 * time.Minute)
	if n := testing.AllocsPerRun(10, func() { w.conns.Expire(w.now, 256, w.expireFn) }); n != 0 {
		t.Errorf("expiry: %v allocations per run, want 0", n)
	}
}

// BenchmarkProcessFullNAT: process() on one core for FULLNAT: the SYN of a
// new connection (binding a local port; the table recycles connections when
// full, timer stopped), and one established flow's packets both ways.
func BenchmarkProcessFullNAT(b *testing.B) {
	flow := pkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.64.0", dst: "198.18.0.30",
		proto: header.ProtocolTCP, sport: 1024, dport: 80, flags: syn, padTo: 60}
	b.Run("new", func(b *testing.B) {
		d := newMemDataplane(b, fullnatSpec(), 1, 1<<16)
		w := d.Workers[0]
		tmpl := flow.frame(b)
		buf := make([]byte, len(tmpl))
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if w.conns.Len() >= 1<<16-16 {
				b.StopTimer()
				d.advance(10 * time.Minute)
				for w.conns.Len() > 0 {
					w.conns.Expire(w.now, 1<<20, w.expireFn)
				}
				b.StartTimer()
			}
			copy(buf, tmpl)
			stampClient(buf, i)
			i++
			if v := w.processFrame(buf, 0); v.action != actionTransmit {
				b.Fatalf("SYN dropped: %v", dropCounts(w))
			}
		}
		reportMpps(b, 1)
	})
	d := newMemDataplane(b, fullnatSpec(), 1, 1024)
	w := d.Workers[0]
	first := flow.frame(b)
	if v := w.processFrame(first, 0); v.action != actionTransmit {
		b.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	var out header.Packet
	out.Parse(first)
	reply := pkt{srcMAC: realMAC2, dstMAC: portMAC1, src: "198.18.2.2", dst: netip.AddrFrom16(out.Src).Unmap().String(),
		proto: header.ProtocolTCP, sport: 8080, dport: out.SrcPort, flags: ack, padTo: 60}.frame(b)
	for _, c := range []struct {
		name  string
		frame []byte
		port  int
	}{{"established", flow.with(func(p *pkt) { p.flags = ack }).frame(b), 0}, {"reply", reply, 1}} {
		b.Run(c.name, func(b *testing.B) { benchOneFrame(b, w, c.frame, c.port) })
	}
}
