package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// proxySpec is one SYN-proxied NAT service and one SYN-proxied FULLNAT one.
func proxySpec() TableSpec {
	return TableSpec{Services: []ServiceSpec{
		{Name: "proxied", VIP: addr("198.18.0.20"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodNAT,
			SynProxy: true, Reals: []RealSpec{realAt("198.18.2.2", 8080, 1)}},
		{Name: "proxied-fnat", VIP: addr("198.18.0.30"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodFullNAT,
			SynProxy: true, LocalAddresses: []netip.Addr{addr("198.18.3.1")}, Reals: []RealSpec{realAt("198.18.2.3", 8080, 1)}},
	}}
}

// segment describes a TCP segment for the SYN-proxy tests.
type segment struct {
	srcMAC, dstMAC header.MAC
	src, dst       string
	sport, dport   uint16
	seq, ack       uint32
	syn, ackFlag   bool
	rst            bool
	tsVal, tsEcr   uint32
	withOptions    bool // MSS 1460, SACK-permitted, wscale 7 and timestamps (a SYN's), or timestamps alone
	payload        []byte
}

func (s segment) frame(tb testing.TB) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(s.srcMAC[:]), DstMAC: net.HardwareAddr(s.dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP(s.src).To4(), DstIP: net.ParseIP(s.dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack,
		SYN: s.syn, ACK: s.ackFlag, RST: s.rst, PSH: len(s.payload) > 0, Window: 502}
	ts := make([]byte, 8)
	putU32(ts[0:], s.tsVal)
	putU32(ts[4:], s.tsEcr)
	if s.withOptions && s.syn {
		tcp.Options = []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}
	} else if s.withOptions {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts}}
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// decoded is what a test reads back from a transmitted frame.
type decoded struct {
	ip  *layers.IPv4
	tcp *layers.TCP
	ts  [2]uint32 // TSval, TSecr; zero without the option
}

func decode(t *testing.T, frame []byte) decoded {
	t.Helper()
	var parsed header.Packet
	if r := parsed.Parse(frame); r != header.ParseOK || !parsed.IPv4().IsChecksumValid() || !l4ChecksumValid(&parsed) {
		t.Fatalf("transmitted frame does not parse with valid checksums (%v)\n%s", r, dump(frame))
	}
	pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	d := decoded{ip: pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4), tcp: pk.Layer(layers.LayerTypeTCP).(*layers.TCP)}
	for _, o := range d.tcp.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			b := o.OptionData
			d.ts = [2]uint32{uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
				uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])}
		}
	}
	return d
}

// only returns the one frame sent, failing otherwise.
func only(t *testing.T, what string, frames [][]byte) []byte {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("%s: %d frames sent, want 1", what, len(frames))
	}
	return frames[0]
}

func TestSynProxyHandshakeAndAdjustedTraffic(t *testing.T) {
	for _, c := range []struct {
		name, vip, real, seenAs string
		realMAC                 header.MAC
	}{
		{"nat", "198.18.0.20", "198.18.2.2", "198.18.1.5", realMAC2},
		{"fullnat", "198.18.0.30", "198.18.2.3", "198.18.3.1", realMAC3},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newRingDataplane(t, proxySpec(), 1, 64)
			w := d.Workers[0]
			const clientISN, serverISN = 1000, 7_000_000
			client := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: c.vip, sport: 40000, dport: 80}

			// 1. The SYN is answered with a cookie; nothing reaches the server.
			syn := client
			syn.seq, syn.syn, syn.withOptions, syn.tsVal = clientISN, true, true, 111
			d.deliver(t, 0, 0, syn.frame(t))
			w.poll()
			synAck := decode(t, only(t, "SYN/ACK", d.sent(0, 0)))
			if !synAck.tcp.SYN || !synAck.tcp.ACK || synAck.tcp.Ack != clientISN+1 || synAck.ip.SrcIP.String() != c.vip || synAck.ts[1] != 111 {
				t.Fatalf("answer %+v ts %v, want a SYN/ACK from the VIP acknowledging the SYN and echoing its TSval", synAck.tcp, synAck.ts)
			}
			if n := len(d.sent(0, 1)); n != 0 || w.conns.Len() != 0 {
				t.Fatalf("after a SYN: %d frames to the servers, %d connections; want none", n, w.conns.Len())
			}
			cookie := synAck.tcp.Seq

			// 2. The ACK validates: the director's SYN goes to the server;
			// the data right behind it is held.
			ack := client
			ack.seq, ack.ack, ack.ackFlag, ack.withOptions, ack.tsVal, ack.tsEcr = clientISN+1, cookie+1, true, true, 112, synAck.ts[0]
			data := ack
			data.payload = []byte("GET / HTTP/1.0\r\n\r\n")
			d.deliver(t, 0, 0, ack.frame(t))
			d.deliver(t, 0, 0, data.frame(t))
			w.poll()
			serverSYN := decode(t, only(t, "SYN to the server", d.sent(0, 1)))
			if !serverSYN.tcp.SYN || serverSYN.tcp.ACK || serverSYN.tcp.Seq != clientISN || serverSYN.ip.DstIP.String() != c.real ||
				serverSYN.ip.SrcIP.String() != c.seenAs || serverSYN.ts[0] != 112 {
				t.Fatalf("SYN to the server %+v ts %v, want the client's ISN and TSval from %s to %s", serverSYN.tcp, serverSYN.ts, c.seenAs, c.real)
			}

			// 3. The server's SYN/ACK: the director acknowledges it and
			// replays the held data, adjusted into the server's space.
			fromReal := segment{srcMAC: c.realMAC, dstMAC: portMAC1, src: c.real, dst: c.seenAs,
				sport: 8080, dport: uint16(serverSYN.tcp.SrcPort), withOptions: true}
			sa := fromReal
			sa.seq, sa.ack, sa.syn, sa.ackFlag, sa.tsVal, sa.tsEcr = serverISN, clientISN+1, true, true, 5000, 112
			d.deliver(t, 0, 1, sa.frame(t))
			w.poll()
			out := d.sent(0, 1)
			if len(out) != 2 {
				w.publish()
				t.Fatalf("after the server's SYN/ACK %d frames went to the server, want the replayed data and the ACK (drops %v, held %d)", len(out), dropCounts(w), w.Stats.Count(CountSynproxyHeld))
			}
			replayed, finalACK := decode(t, out[0]), decode(t, out[1])
			if finalACK.tcp.SYN || !finalACK.tcp.ACK || finalACK.tcp.Ack != serverISN+1 || finalACK.tcp.Seq != clientISN+1 {
				t.Fatalf("ACK to the server %+v", finalACK.tcp)
			}
			if string(replayed.tcp.Payload) != string(data.payload) || replayed.tcp.Ack != serverISN+1 || replayed.tcp.Seq != clientISN+1 ||
				replayed.ip.DstIP.String() != c.real {
				t.Fatalf("replayed data %+v, want it acknowledging the server's ISN", replayed.tcp)
			}

			// 4. The server's answer reaches the client in the cookie's space.
			answer := fromReal
			answer.seq, answer.ack, answer.ackFlag, answer.payload = serverISN+1, clientISN+1+uint32(len(data.payload)), true, []byte("HTTP/1.0 200 OK\r\n\r\n")
			answer.tsVal, answer.tsEcr = 5001, 112
			d.deliver(t, 0, 1, answer.frame(t))
			w.poll()
			got := decode(t, only(t, "answer to the client", d.sent(0, 0)))
			if got.tcp.Seq != cookie+1 || got.ip.SrcIP.String() != c.vip || got.ip.DstIP.String() != "198.18.1.5" || got.ts[1] != 112 {
				t.Fatalf("answer to the client %+v ts %v, want seq %d from the VIP", got.tcp, got.ts, cookie+1)
			}
			if got.ts[0] != synAck.ts[0]+1 {
				t.Fatalf("answer TSval %d, want the server's clock moved onto the SYN/ACK's (%d)", got.ts[0], synAck.ts[0]+1)
			}
			w.publish()
			for cnt, want := range map[Count]uint64{CountSynCookiesSent: 1, CountSynCookiesValid: 1, CountSynproxyEstablished: 1,
				CountSynproxyHeld: 1, CountSynproxyReplayed: 1} {
				if n := w.Stats.Count(cnt); n != want {
					t.Errorf("%s = %d, want %d", cnt, n, want)
				}
			}
			if drops := dropCounts(w); len(drops) != 0 {
				t.Errorf("drops %v, want none", drops)
			}
			d.checkNoLeak(t)
		})
	}
}

func TestSynProxyDropsForgedACKs(t *testing.T) {
	d := newRingDataplane(t, proxySpec(), 1, 64)
	w := d.Workers[0]
	for i := range 50 {
		forged := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
			sport: uint16(30000 + i), dport: 80, seq: 5, ack: uint32(i) * 7919, ackFlag: true}
		d.deliver(t, 0, 0, forged.frame(t))
	}
	w.poll()
	if n := dropCounts(w)["synproxy_invalid_cookie"]; n != 50 {
		t.Fatalf("invalid cookies %d, want 50 (drops %v)", n, dropCounts(w))
	}
	if w.conns.Len() != 0 || len(d.sent(0, 1)) != 0 {
		t.Fatal("a forged ACK opened a connection")
	}
	d.checkNoLeak(t)
}

func TestSynProxyAnswersAllocateNothing(t *testing.T) {
	d := newRingDataplane(t, proxySpec(), 1, 64)
	w := d.Workers[0]
	syn := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
		sport: 40000, dport: 80, seq: 1, syn: true, withOptions: true}.frame(t)
	if a := testing.AllocsPerRun(200, func() {
		d.kernels[0][0].Deliver(syn)
		w.poll()
		d.kernels[0][0].Drain()
	}); a != 0 {
		t.Fatalf("%v allocations per cookie answer", a)
	}
}

// BenchmarkSynProxy: a SYN answered with a cookie, a cookie ACK validated
// (opening the connection and building the server SYN), and an established
// proxied segment (address rewrite plus sequence adjustment) beside the
// same segment of a plain NAT connection.
func BenchmarkSynProxy(b *testing.B) {
	client := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", sport: 40000, dport: 80}
	syn := client
	syn.seq, syn.syn, syn.withOptions, syn.tsVal = 1000, true, true, 111
	synFrame := syn.frame(b)
	b.Run("cookie_answer", func(b *testing.B) {
		d := newMemDataplane(b, proxySpec(), 1, 1024)
		w := d.Workers[0]
		buf := make([]byte, 2048)
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, synFrame)
			pkt := &packet{buf: buf, size: len(synFrame)}
			if v := w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false); v.action != actionTransmit {
				b.Fatalf("SYN: %+v", v)
			}
		}
	})
	b.Run("established", func(b *testing.B) {
		d := newMemDataplane(b, proxySpec(), 1, 1024)
		w := d.Workers[0]
		answer := w.processFrame(synFrame, 0)
		var sa header.Packet
		sa.Parse(synFrame) // the SYN/ACK, built in place
		if answer.action != actionTransmit {
			b.Fatalf("SYN: %+v", answer)
		}
		cookie := sa.TCP().SequenceNumber()
		ack := client
		ack.seq, ack.ack, ack.ackFlag = 1001, cookie+1, true
		if v := w.processFrame(ack.frame(b), 0); v.action != actionTransmit {
			b.Fatalf("ACK: %+v %v", v, dropCounts(w))
		}
		server := segment{srcMAC: realMAC2, dstMAC: portMAC1, src: "198.18.2.2", dst: "198.18.1.5", sport: 8080, dport: 40000,
			seq: 7_000_000, ack: 1001, syn: true, ackFlag: true}
		if v := w.processFrame(server.frame(b), 1); v.action != actionTransmit {
			b.Fatalf("server SYN/ACK: %+v %v", v, dropCounts(w))
		}
		data := ack
		data.payload = make([]byte, 100)
		benchSegment(b, w, data.frame(b))
	})
	b.Run("plain_nat_established", func(b *testing.B) {
		spec := proxySpec()
		spec.Services[0].SynProxy = false
		d := newMemDataplane(b, spec, 1, 1024)
		w := d.Workers[0]
		s := syn
		s.withOptions = false
		if v := w.processFrame(s.frame(b), 0); v.action != actionTransmit {
			b.Fatalf("SYN: %+v", v)
		}
		data := client
		data.seq, data.ack, data.ackFlag, data.payload = 1001, 1, true, make([]byte, 100)
		benchSegment(b, w, data.frame(b))
	})
}

// benchSegment times process on copies of frame, which must be forwarded.
func benchSegment(b *testing.B, w *Worker, frame []byte) {
	buf := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, frame)
		pkt := &packet{buf: buf, size: len(frame)}
		if v := w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false); v.action != actionTransmit {
			b.Fatalf("segment: %+v %v", v, dropCounts(w))
		}
	}
}

func TestSynProxyACKBucketRefillsAfterHoursIdle(t *testing.T) {
	var ps proxyState
	ps.tokens, ps.lastRefill = 0, int64(time.Second)
	// Three hours without an ACK: elapsed*proxyACKRate passes the int64 range.
	now := int64(time.Second + 3*time.Hour)
	for i := range proxyACKBurst {
		if !ps.takeToken(now) {
			t.Fatalf("check %d refused after three idle hours (tokens %d)", i, ps.tokens)
		}
	}
	if ps.takeToken(now) {
		t.Fatal("a burst beyond proxyACKBurst passed")
	}
	if !ps.takeToken(now + int64(time.Millisecond)) {
		t.Fatal("a millisecond later the bucket has not refilled")
	}
}
