package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/proxyproto"
)

// clientAddrSpec: fullnatSpec with PROXY protocol on its TCP services.
func clientAddrSpec(way ClientAddress) TableSpec {
	spec := fullnatSpec()
	for i := range spec.Services {
		spec.Services[i].ClientAddress = way
	}
	return spec
}

// realMACs are the test next hops' real servers (testNextHops), by address.
var realMACs = map[string]header.MAC{"198.18.2.2": realMAC2, "198.18.2.3": realMAC3, "2001:2:2::2": realMAC6}

// tcpSegment builds a TCP frame with the given sequence numbers, an MSS
// option when mss is not 0, and a payload.
func tcpSegment(tb testing.TB, src, dst string, sport, dport uint16, seq, ackNum uint32, flags uint8, mss uint16, payload []byte) []byte {
	tb.Helper()
	s, d := addr(src), addr(dst)
	srcMAC, dstMAC := clientMAC, portMAC0
	if mac, ok := realMACs[src]; ok { // a real server's answer comes by its port, from its MAC
		srcMAC, dstMAC = mac, portMAC1
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	if s.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ackNum, Window: 64240,
		SYN: flags&header.TCPFlagSyn != 0, ACK: flags&header.TCPFlagAck != 0, PSH: flags&header.TCPFlagPsh != 0}
	if mss != 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(mss >> 8), byte(mss)}}}
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// sent runs a frame through w in a UMEM-sized buffer and returns what it
// transmits, parsed and checked (lengths and checksums).
func sent(t *testing.T, w *Worker, frame []byte, port int) (header.Packet, []byte) {
	t.Helper()
	buf := make([]byte, 2048)
	n := copy(buf, frame)
	v, out := w.processIn(buf, 0, n, port)
	if v.action != actionTransmit {
		t.Fatalf("dropped: %v", dropCounts(w))
	}
	out = append([]byte(nil), out...)
	var p header.Packet
	if r := p.Parse(out); r != header.ParseOK {
		t.Fatalf("sent frame does not parse: %v", r)
	}
	if !l4ChecksumValid(&p) || (!p.IsIPv6 && !p.IPv4().IsChecksumValid()) {
		t.Fatal("sent frame's checksums do not verify")
	}
	return p, out
}

// TestProxyHeaderShiftsTheStream: for v1 and v2 over IPv4 and IPv6, the
// SYN/ACK's MSS is lowered by the header's room, the first data segment
// carries the header before its payload at the client's sequence number,
// every later client segment is shifted by the header's length and every
// acknowledgement back to the client unshifted; the first segment
// retransmitted gets the header again until the server acknowledged it.
func TestProxyHeaderShiftsTheStream(t *testing.T) {
	const clientISN, serverISN = 1000, 500000
	for _, tc := range []struct {
		name           string
		way            ClientAddress
		client, vip    string
		local, realIP  string
		wantHeaderText string // v1 only
	}{
		{"v1/ipv4", ClientAddressProxyV1, "198.18.1.5", "198.18.0.30", "198.18.3.1", "198.18.2.2", "PROXY TCP4 198.18.1.5 198.18.0.30 40001 80\r\n"},
		{"v2/ipv4", ClientAddressProxyV2, "198.18.1.5", "198.18.0.30", "198.18.3.1", "198.18.2.2", ""},
		{"v1/ipv6", ClientAddressProxyV1, "2001:2:1::5", "2001:2::30", "2001:2:3::1", "2001:2:2::2", "PROXY TCP6 2001:2:1::5 2001:2::30 40001 80\r\n"},
		{"v2/ipv6", ClientAddressProxyV2, "2001:2:1::5", "2001:2::30", "2001:2:3::1", "2001:2:2::2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newMemDataplane(t, clientAddrSpec(tc.way), 1, 1024)
			w := d.Workers[0]
			d.beginBatch()
			syn, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN, 0, syn, 1460, nil), 0)
			lport := syn.SrcPort
			synAckIn := tcpSegment(t, tc.realIP, tc.local, 8080, lport, serverISN, clientISN+1, synAck, 1460, nil)
			sa, _ := sent(t, w, synAckIn, 1)
			room := clientAddrRoom(tc.way, addr(tc.client).Is6())
			if mss, _ := sa.TCP().MSS(); int(mss) != 1460-room {
				t.Fatalf("SYN/ACK MSS %d, want %d", mss, 1460-room)
			}
			if _, out := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN+1, serverISN+1, ack, 0, nil), 0); len(out) == 0 {
				t.Fatal("handshake ACK not sent")
			}
			request := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			first, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN+1, serverISN+1, pshAck, 0, request), 0)
			payload := first.TCP().Payload()
			n := len(payload) - len(request)
			if first.TCP().SequenceNumber() != clientISN+1 || !bytes.HasSuffix(payload, request) {
				t.Fatalf("first data: seq %d payload %q", first.TCP().SequenceNumber(), payload)
			}
			hdr := payload[:n]
			if tc.wantHeaderText != "" && string(hdr) != tc.wantHeaderText {
				t.Fatalf("header %q, want %q", hdr, tc.wantHeaderText)
			}
			if tc.way == ClientAddressProxyV2 {
				want := make([]byte, 128)
				a := proxyproto.Addrs{Src: addr(tc.client).As16(), Dst: addr(tc.vip).As16(), SrcPort: 40001, DstPort: 80}
				m := proxyproto.EncodeV2(want, &a, proxyproto.TCP, 0)
				// The unique id (last 8 bytes) names this worker's connection.
				if m != n || !bytes.Equal(hdr[:n-8], want[:m-8]) {
					t.Fatalf("header % x, want % x", hdr, want[:m])
				}
			}
			second, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN+1+uint32(len(request)), serverISN+1, pshAck, 0, []byte("more")), 0)
			if got, want := second.TCP().SequenceNumber(), clientISN+1+uint32(len(request)+n); got != want {
				t.Fatalf("second segment seq %d, want %d", got, want)
			}
			// The first segment again before the server acknowledged the
			// header (it was lost): the header again, unshifted.
			again, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN+1, serverISN+1, pshAck, 0, request), 0)
			if again.TCP().SequenceNumber() != clientISN+1 || !bytes.Equal(again.TCP().Payload(), payload) {
				t.Fatalf("first segment resent before the server's ACK: seq %d payload %q, want the header again", again.TCP().SequenceNumber(), again.TCP().Payload())
			}
			answer := tcpSegment(t, tc.realIP, tc.local, 8080, lport, serverISN+1, clientISN+1+uint32(len(request)+4+n), pshAck, 0, []byte("HTTP/1.1 200 OK\r\n\r\n"))
			back, _ := sent(t, w, answer, 1)
			if got, want := back.TCP().AckNumber(), uint32(clientISN+1+len(request)+4); got != want {
				t.Fatalf("ack to the client %d, want %d", got, want)
			}
			// Once the server acknowledged it, a retransmission is shifted.
			late, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, clientISN+1, serverISN+1, pshAck, 0, request), 0)
			if late.TCP().SequenceNumber() != clientISN+1+uint32(n) || !bytes.Equal(late.TCP().Payload(), request) {
				t.Fatalf("first segment resent after the server's ACK: seq %d payload %q", late.TCP().SequenceNumber(), late.TCP().Payload())
			}
			if w.tally.counts[CountProxyHeaders] != 2 || w.tally.counts[CountProxyHeadersResent] != 1 || w.tally.counts[CountMSSClamped] != 1 {
				t.Fatalf("counted %d headers, %d resent, %d clamps; want 2, 1 and 1", w.tally.counts[CountProxyHeaders],
					w.tally.counts[CountProxyHeadersResent], w.tally.counts[CountMSSClamped])
			}
		})
	}
}

// TestClientAddressTooBig: a first data segment that would exceed the
// egress MTU once its PROXY header or TOA option is in it is, with DF,
// answered with fragmentation needed from the VIP advertising the MTU less
// the most the way adds; without DF it goes on, grown, as two fragments.
func TestClientAddressTooBig(t *testing.T) {
	for _, way := range []ClientAddress{ClientAddressProxyV1, ClientAddressProxyV2, ClientAddressTOA} {
		t.Run(way.String(), func(t *testing.T) {
			d := newMemDataplane(t, clientAddrSpec(way), 1, 1024)
			w := d.Workers[0]
			d.beginBatch()
			sent(t, w, tcpSegment(t, "198.18.1.5", "198.18.0.30", 40001, 80, 1000, 0, syn, 1460, nil), 0)
			big := tcpSegment(t, "198.18.1.5", "198.18.0.30", 40001, 80, 1001, 1, pshAck, 0, make([]byte, 1460))

			v, out := processInChunk(w, setDF(t, append([]byte(nil), big...), true), 0, tunnelHeadroom)
			var answer header.Packet
			if v.action != actionTransmit || v.port != 0 || answer.Parse(out) != header.ParseOK || answer.Proto != header.ProtocolICMPv4 {
				t.Fatalf("with DF: verdict %+v, want an ICMP answer on port 0 (drops %v)", v, dropCounts(w))
			}
			icmp := answer.ICMPv4()
			wantMTU := 1500 - clientAddrRoom(way, false)
			if icmp.Type() != header.ICMPv4DestinationUnreachable || icmp.Code() != header.ICMPv4CodeFragmentationNeeded ||
				int(binary.BigEndian.Uint16(answer.L4()[6:])) != wantMTU || answer.Src != addr("198.18.0.30").As16() || answer.Dst != addr("198.18.1.5").As16() {
				t.Fatalf("with DF: answer %s, want fragmentation needed (MTU %d) from the VIP to the client", dump(out), wantMTU)
			}

			v, second := processInChunk(w, big, 0, tunnelHeadroom)
			if v.action != actionTransmit || v.port != 1 || !w.extra.pending {
				t.Fatalf("without DF: verdict %+v, spare frame pending %v (drops %v)", v, w.extra.pending, dropCounts(w))
			}
			total := 0
			for i, f := range [][]byte{w.extra.bytes(), second} {
				ip := header.IPv4(f[header.EthernetMinimumSize:])
				if len(f)-header.EthernetMinimumSize > 1500 || !ip.IsChecksumValid() || ip.MoreFragments() != (i == 0) || int(ip.FragmentOffset()) != total {
					t.Fatalf("fragment %d: %s", i, dump(f))
				}
				total += int(ip.TotalLength()) - ip.HeaderLength()
			}
			if n := w.tally.counts[CountProxyHeaders] + w.tally.counts[CountTOAInserted]; total <= 20+1460 || n != 1 {
				t.Fatalf("fragments carry %d bytes, %d headers or options written; want the segment grown by one", total, n)
			}
			if w.tally.counts[CountEgressFragmented] != 1 || w.tally.counts[CountFragNeededSent] != 1 {
				t.Fatalf("counted %d fragmented, %d answered; want 1 and 1", w.tally.counts[CountEgressFragmented], w.tally.counts[CountFragNeededSent])
			}
		})
	}
}

// TestProxyHeaderWithSynProxy: on a SYN-proxied FULLNAT service with
// proxy_v1, the cookie SYN/ACK's MSS leaves room for the header, the held
// first data segment is replayed with the header in front of it, and later
// segments carry both offsets in the one Adjust: the server's sequence
// space moved into the cookie's, the client's shifted by the header.
func TestProxyHeaderWithSynProxy(t *testing.T) {
	spec := proxySpec()
	spec.Services[1].ClientAddress = ClientAddressProxyV1
	d := newRingDataplane(t, spec, 1, 64)
	w := d.Workers[0]
	const clientISN, serverISN = 1000, 7_000_000
	client := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.30", sport: 40000, dport: 80}
	syn := client
	syn.seq, syn.syn, syn.withOptions = clientISN, true, true
	d.deliver(t, 0, 0, syn.frame(t))
	w.poll()
	synAckFrame := only(t, "cookie SYN/ACK", d.sent(0, 0))
	var sa header.Packet
	sa.Parse(synAckFrame)
	if mss, _ := sa.TCP().MSS(); mss != 1460-proxyproto.MaxV1IPv4 {
		t.Fatalf("cookie SYN/ACK MSS %d, want %d", mss, 1460-proxyproto.MaxV1IPv4)
	}
	cookie := sa.TCP().SequenceNumber()

	ack := client
	ack.seq, ack.ack, ack.ackFlag = clientISN+1, cookie+1, true
	data := ack
	data.payload = []byte("GET / HTTP/1.0\r\n\r\n")
	d.deliver(t, 0, 0, ack.frame(t))
	d.deliver(t, 0, 0, data.frame(t))
	w.poll()
	serverSYN := decode(t, only(t, "SYN to the server", d.sent(0, 1)))

	fromReal := segment{srcMAC: realMAC3, dstMAC: portMAC1, src: "198.18.2.3", dst: "198.18.3.1", sport: 8080, dport: uint16(serverSYN.tcp.SrcPort)}
	serverSA := fromReal
	serverSA.seq, serverSA.ack, serverSA.syn, serverSA.ackFlag = serverISN, clientISN+1, true, true
	d.deliver(t, 0, 1, serverSA.frame(t))
	w.poll()
	out := d.sent(0, 1)
	if len(out) != 2 {
		t.Fatalf("%d frames to the server after its SYN/ACK, want the replayed data and the ACK (drops %v)", len(out), dropCounts(w))
	}
	replayed := decode(t, out[0])
	proxyLine := "PROXY TCP4 198.18.1.5 198.18.0.30 40000 80\r\n"
	if string(replayed.tcp.Payload) != proxyLine+string(data.payload) || replayed.tcp.Seq != clientISN+1 || replayed.tcp.Ack != serverISN+1 {
		t.Fatalf("replayed data seq %d ack %d payload %q", replayed.tcp.Seq, replayed.tcp.Ack, replayed.tcp.Payload)
	}
	n := uint32(len(proxyLine))

	more := ack
	more.seq, more.payload = clientISN+1+uint32(len(data.payload)), []byte("x")
	d.deliver(t, 0, 0, more.frame(t))
	w.poll()
	got := decode(t, only(t, "second data", d.sent(0, 1)))
	if got.tcp.Seq != clientISN+1+uint32(len(data.payload))+n || got.tcp.Ack != serverISN+1 {
		t.Fatalf("second data seq %d ack %d, want %d and %d", got.tcp.Seq, got.tcp.Ack, clientISN+1+uint32(len(data.payload))+n, serverISN+1)
	}
	answer := fromReal
	answer.seq, answer.ack, answer.ackFlag, answer.payload = serverISN+1, clientISN+1+uint32(len(data.payload))+n+1, true, []byte("HTTP/1.0 200 OK\r\n\r\n")
	d.deliver(t, 0, 1, answer.frame(t))
	w.poll()
	back := decode(t, only(t, "answer", d.sent(0, 0)))
	if back.tcp.Seq != cookie+1 || back.tcp.Ack != clientISN+1+uint32(len(data.payload))+1 {
		t.Fatalf("answer to the client seq %d ack %d, want %d and %d", back.tcp.Seq, back.tcp.Ack, cookie+1, clientISN+1+uint32(len(data.payload))+1)
	}
	d.checkNoLeak(t)
}

// TestProxyHeaderOffsetIsSynced: the connection is published again once its
// header is written, with the offset; on the peer the next client segment
// is shifted and the server's acknowledgement unshifted as on the active
// director. A connection synced before its first data still has the header
// to write on the peer.
func TestProxyHeaderOffsetIsSynced(t *testing.T) {
	active := newMemDataplane(t, clientAddrSpec(ClientAddressProxyV1), 1, 1024)
	early := newMemDataplane(t, clientAddrSpec(ClientAddressProxyV1), 1, 1024)
	late := newMemDataplane(t, clientAddrSpec(ClientAddressProxyV1), 1, 1024)
	for _, d := range []*memDataplane{active, early, late} {
		enableMemSync(d)
		d.beginBatch()
	}
	a := active.Workers[0]
	var published []SyncRecord
	carry := func(b *Worker) {
		var rec SyncRecord
		for a.syncOut.Pop(&rec) {
			published = append(published, rec)
		}
		for _, rec := range published {
			b.syncIn.Push(rec)
		}
		b.applySync()
	}
	const client, vip, real, local = "198.18.1.5", "198.18.0.30", "198.18.2.2", "198.18.3.1"
	sent(t, a, tcpSegment(t, client, vip, 40001, 80, 1000, 0, syn, 1460, nil), 0)
	sent(t, a, tcpSegment(t, real, local, 8080, 1024, 5000, 1001, synAck, 1460, nil), 1)
	sent(t, a, tcpSegment(t, client, vip, 40001, 80, 1001, 5001, ack, 0, nil), 0)

	// Synced before the first data: the peer writes the header.
	b := early.Workers[0]
	carry(b)
	first, _ := sent(t, b, tcpSegment(t, client, vip, 40001, 80, 1001, 5001, pshAck, 0, []byte("GET /")), 0)
	proxyLine := "PROXY TCP4 198.18.1.5 198.18.0.30 40001 80\r\n"
	if string(first.TCP().Payload()) != proxyLine+"GET /" {
		t.Fatalf("early peer's first data payload %q", first.TCP().Payload())
	}

	// Synced after it: the peer shifts, and writes no header.
	sent(t, a, tcpSegment(t, client, vip, 40001, 80, 1001, 5001, pshAck, 0, []byte("GET /")), 0)
	b = late.Workers[0]
	carry(b)
	n := uint32(len(proxyLine))
	next, _ := sent(t, b, tcpSegment(t, client, vip, 40001, 80, 1006, 5001, pshAck, 0, []byte("x")), 0)
	if next.TCP().SequenceNumber() != 1006+n || string(next.TCP().Payload()) != "x" {
		t.Fatalf("late peer's next segment seq %d payload %q, want %d and no header", next.TCP().SequenceNumber(), next.TCP().Payload(), 1006+n)
	}
	back, _ := sent(t, b, tcpSegment(t, real, local, 8080, 1024, 5001, 1007+n, ack, 0, nil), 1)
	if back.TCP().AckNumber() != 1007 {
		t.Fatalf("late peer's ack to the client %d, want 1007", back.TCP().AckNumber())
	}
	b.publish()
	if b.Stats.Count(CountSyncUnknown) != 0 {
		t.Fatalf("late peer refused %d records", b.Stats.Count(CountSyncUnknown))
	}
}

// TestProxyHeaderOnDatagrams: with proxy_v2 on a FULLNAT UDP service every
// datagram toward the real server starts with a v2 DGRAM header naming the
// client; the UDP length and checksum follow; replies are untouched.
func TestProxyHeaderOnDatagrams(t *testing.T) {
	d := newMemDataplane(t, clientAddrSpec(ClientAddressProxyV2), 1, 1024)
	w := d.Workers[0]
	d.beginBatch()
	want := make([]byte, proxyproto.V2IPv4)
	a := proxyproto.Addrs{Src: addr("198.18.1.5").As16(), Dst: addr("198.18.0.30").As16(), SrcPort: 40002, DstPort: 53}
	proxyproto.EncodeV2(want, &a, proxyproto.UDP, 0)
	for i, payload := range []string{"query\x00\x01", "second"} {
		out, _ := sent(t, w, fnatUDP.with(func(p *pkt) { p.payload = []byte(payload) }).frame(t), 0)
		got := out.UDP().Payload()
		if len(got) != len(want)+len(payload) || !bytes.Equal(got[:len(want)-8], want[:len(want)-8]) || string(got[len(want):]) != payload {
			t.Fatalf("datagram %d payload % x, want the v2 header then %q", i, got, payload)
		}
	}
	reply, _ := sent(t, w, fnatUDP.viaLocal("198.18.3.1", 1024, "198.18.2.3", 5353, realMAC3).reply().with(func(p *pkt) { p.payload = []byte("answer") }).frame(t), 1)
	if string(reply.UDP().Payload()) != "answer" {
		t.Fatalf("reply payload %q", reply.UDP().Payload())
	}
	if w.tally.counts[CountProxyHeaders] != 2 {
		t.Fatalf("%d headers counted, want 2", w.tally.counts[CountProxyHeaders])
	}
}

// TestProxyHeaderAroundReorderedSegments: the SYN/ACK reaches the client
// acknowledging its SYN (not shifted below it); a retransmitted SYN and the
// handshake's ACK reach the server unshifted; a data segment that overtook
// the first one goes behind the header; the first one, arriving last, gets
// the header at the start of the stream; the server's duplicate
// acknowledgements short of the header reach the client as its stream's
// start.
func TestProxyHeaderAroundReorderedSegments(t *testing.T) {
	const client, vip, real, local = "198.18.1.5", "198.18.0.30", "198.18.2.2", "198.18.3.1"
	d := newMemDataplane(t, clientAddrSpec(ClientAddressProxyV2), 1, 1024)
	w := d.Workers[0]
	d.beginBatch()
	const s = 1001 // the client's stream starts here
	synOut, _ := sent(t, w, tcpSegment(t, client, vip, 40001, 80, s-1, 0, syn, 1460, nil), 0)
	lport := synOut.SrcPort
	again, _ := sent(t, w, tcpSegment(t, client, vip, 40001, 80, s-1, 0, syn, 1460, nil), 0)
	if again.TCP().SequenceNumber() != s-1 {
		t.Fatalf("retransmitted SYN seq %d, want %d", again.TCP().SequenceNumber(), s-1)
	}
	sa, _ := sent(t, w, tcpSegment(t, real, local, 8080, lport, 5000, s, synAck, 1460, nil), 1)
	if sa.TCP().AckNumber() != s {
		t.Fatalf("SYN/ACK to the client acknowledges %d, want %d", sa.TCP().AckNumber(), s)
	}
	hs, _ := sent(t, w, tcpSegment(t, client, vip, 40001, 80, s, 5001, ack, 0, nil), 0)
	if hs.TCP().SequenceNumber() != s {
		t.Fatalf("handshake ACK seq %d, want %d", hs.TCP().SequenceNumber(), s)
	}
	n := uint32(proxyproto.V2IPv4)
	second, _ := sent(t, w, tcpSegment(t, client, vip, 40001, 80, s+5, 5001, pshAck, 0, []byte("world")), 0)
	if second.TCP().SequenceNumber() != s+5+n || string(second.TCP().Payload()) != "world" {
		t.Fatalf("overtaking segment seq %d payload %q, want %d and no header", second.TCP().SequenceNumber(), second.TCP().Payload(), s+5+n)
	}
	dup, _ := sent(t, w, tcpSegment(t, real, local, 8080, lport, 5001, s, ack, 0, nil), 1)
	if dup.TCP().AckNumber() != s {
		t.Fatalf("duplicate ACK short of the header reaches the client as %d, want %d", dup.TCP().AckNumber(), s)
	}
	first, _ := sent(t, w, tcpSegment(t, client, vip, 40001, 80, s, 5001, pshAck, 0, []byte("hello")), 0)
	if first.TCP().SequenceNumber() != s || len(first.TCP().Payload()) != int(n)+5 || string(first.TCP().Payload()[n:]) != "hello" {
		t.Fatalf("first segment seq %d payload % x, want the header at %d", first.TCP().SequenceNumber(), first.TCP().Payload(), s)
	}
	all, _ := sent(t, w, tcpSegment(t, real, local, 8080, lport, 5001, s+10+n, ack, 0, nil), 1)
	if all.TCP().AckNumber() != s+10 {
		t.Fatalf("ACK of everything reaches the client as %d, want %d", all.TCP().AckNumber(), s+10)
	}
	tuple := conntrack.Tuple{Src: addr(client).As16(), Dst: addr(vip).As16(), SrcPort: 40001, DstPort: 80, Proto: header.ProtocolTCP}
	if ref, _ := w.conns.Lookup(&tuple); ref == 0 || w.conns.Conn(ref).Flags&connClientAddrState != 0 {
		t.Fatal("the connection still waits for the header's acknowledgement after the server's ACK of it")
	}
}
