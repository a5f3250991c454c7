package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"fastlvs/header"
	"fastlvs/spsc"
)

// fragSpec has one UDP service per method and family, so every method's
// fragments are tested the same way.
func fragSpec() TableSpec {
	udp := func(name, vip string, m Method, real string, port uint16, locals ...string) ServiceSpec {
		s := ServiceSpec{Name: name, VIP: addr(vip), Port: 53, Proto: ProtoUDP, Scheduler: "rr", Method: m,
			Reals: []RealSpec{realAt(real, port, 1)}}
		for _, l := range locals {
			s.LocalAddresses = append(s.LocalAddresses, addr(l))
		}
		return s
	}
	return TableSpec{Services: []ServiceSpec{
		udp("dr", "198.18.0.10", MethodDR, "198.18.2.2", 53),
		udp("nat", "198.18.0.20", MethodNAT, "198.18.2.3", 5353),
		udp("tun", "198.18.0.30", MethodTunnel, "198.18.2.2", 53),
		udp("fnat", "198.18.0.40", MethodFullNAT, "198.18.2.4", 5353, "198.18.3.1"),
		udp("dr6", "2001:2::10", MethodDR, "2001:2:2::2", 53),
		udp("nat6", "2001:2::20", MethodNAT, "2001:2:2::2", 5353),
		udp("tun6", "2001:2::30", MethodTunnel, "2001:2:2::2", 53),
		udp("fnat6", "2001:2::40", MethodFullNAT, "2001:2:2::2", 5354, "2001:2:3::1"),
	}}
}

// newFragDataplane is a dataplane on fragSpec whose workers' released
// fragments are collected in *sent.
func newFragDataplane(t testing.TB, workers int, sent *[][]byte) *memDataplane {
	d := newMemDataplane(t, fragSpec(), workers, 1024)
	d.hops = testNextHops().WithPortAddresses(tunnelPortAddrs, []int{1500, 1500})
	d.beginBatch()
	for _, w := range d.Workers {
		w.sendCopy = func(_ int, frame []byte) { *sent = append(*sent, append([]byte(nil), frame...)) }
	}
	return d
}

// fragmentFrame splits an Ethernet frame's IP datagram into fragments of at
// most chunk payload bytes (a multiple of 8), identified by id.
func fragmentFrame(t testing.TB, frame []byte, chunk int, id uint32) [][]byte {
	t.Helper()
	var p header.Packet
	if r := p.Parse(frame); r != header.ParseOK {
		t.Fatalf("parse datagram: %v", r)
	}
	payload := frame[p.L4Off : p.L4Off+p.L4Len]
	var out [][]byte
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		more := end < len(payload)
		var f []byte
		if p.IsIPv6 {
			f = append(f, frame[:p.L4Off]...)
			ip := header.IPv6(f[p.L3Off:])
			ip.SetPayloadLength(uint16(header.IPv6FragmentHeaderSize + end - off))
			f[p.L3Off+6] = header.IPv6FragmentHeader
			fh := make([]byte, 8)
			fh[0] = p.Proto
			offM := uint16(off)
			if more {
				offM |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], offM)
			binary.BigEndian.PutUint32(fh[4:], id)
			f = append(f, fh...)
		} else {
			f = append(f, frame[:p.L4Off]...)
			ip := header.IPv4(f[p.L3Off:])
			ip.SetTotalLength(uint16(p.L4Off - p.L3Off + end - off))
			fo := uint16(off / 8)
			if more {
				fo |= 0x2000
			}
			binary.BigEndian.PutUint16(f[p.L3Off+4:], uint16(id))
			binary.BigEndian.PutUint16(f[p.L3Off+6:], fo)
			ip.SetChecksum(ip.CalculateChecksum())
		}
		out = append(out, append(f, payload[off:end]...))
	}
	return out
}

// reassemble rebuilds the datagram the fragments in frames carry (after
// skip bytes of outer header behind the Ethernet header, for tunnels) as an
// unfragmented frame, and parses it.
func reassemble(t testing.TB, frames [][]byte, skip int) (header.Packet, []byte) {
	t.Helper()
	var first []byte
	var src, dst [16]byte
	payload := map[int][]byte{}
	total := 0
	for _, fr := range frames {
		inner := append(append([]byte(nil), fr[:header.EthernetMinimumSize]...), fr[header.EthernetMinimumSize+skip:]...)
		var p header.Packet
		if r := p.Parse(inner); r != header.ParseFragment {
			t.Fatalf("sent frame is no fragment: %v", r)
		}
		if !p.IsIPv6 && !p.IPv4().IsChecksumValid() {
			t.Fatalf("fragment with a bad IPv4 header checksum")
		}
		f, r := p.ParseFragmentHeader()
		if r != header.ParseOK {
			t.Fatalf("fragment header: %v", r)
		}
		if src == ([16]byte{}) {
			src, dst = p.Src, p.Dst
		} else if p.Src != src || p.Dst != dst {
			t.Fatalf("fragments of one datagram leave with different addresses")
		}
		payload[int(f.Offset)] = inner[p.L4Off : p.L4Off+p.L4Len]
		total += p.L4Len
		if f.First() {
			first = inner[:p.L4Off]
			if p.IsIPv6 {
				first = append([]byte(nil), inner[:p.L4Off-8]...)
				first[p.L3Off+6] = p.Proto
			}
		}
	}
	if first == nil {
		t.Fatalf("no first fragment among %d", len(frames))
	}
	whole := append([]byte(nil), first...)
	for off := 0; off < total; {
		b, ok := payload[off]
		if !ok {
			t.Fatalf("missing fragment at offset %d", off)
		}
		whole = append(whole, b...)
		off += len(b)
	}
	l3 := header.EthernetMinimumSize
	if whole[l3]>>4 == 6 {
		header.IPv6(whole[l3:]).SetPayloadLength(uint16(len(whole) - l3 - header.IPv6MinimumSize))
	} else {
		ip := header.IPv4(whole[l3:])
		ip.SetTotalLength(uint16(len(whole) - l3))
		binary.BigEndian.PutUint16(whole[l3+6:], 0)
		ip.SetChecksum(ip.CalculateChecksum())
	}
	var p header.Packet
	if r := p.Parse(whole); r != header.ParseOK {
		t.Fatalf("reassembled datagram: %v", r)
	}
	return p, whole
}

func bigPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

type fragCase struct {
	name         string
	client, vip  string
	skip         int // outer header on the way to the real server
	real         string
	realPort     uint16
	newSrc       string // "" = the client (DR, NAT, TUN)
	replyThrough bool   // NAT and FULLNAT: the reply comes back through the director
	realMAC      header.MAC
}

var fragCases = []fragCase{
	{name: "dr", client: "198.18.1.5", vip: "198.18.0.10", real: "198.18.0.10", realPort: 53, realMAC: realMAC2},
	{name: "nat", client: "198.18.1.5", vip: "198.18.0.20", real: "198.18.2.3", realPort: 5353, realMAC: realMAC3, replyThrough: true},
	{name: "tun", client: "198.18.1.5", vip: "198.18.0.30", real: "198.18.0.30", realPort: 53, realMAC: realMAC2, skip: 20},
	{name: "fullnat", client: "198.18.1.5", vip: "198.18.0.40", real: "198.18.2.4", realPort: 5353, realMAC: realMAC4,
		newSrc: "198.18.3.1", replyThrough: true},
	{name: "dr6", client: "2001:2:1::5", vip: "2001:2::10", real: "2001:2::10", realPort: 53, realMAC: realMAC6},
	{name: "nat6", client: "2001:2:1::5", vip: "2001:2::20", real: "2001:2:2::2", realPort: 5353, realMAC: realMAC6, replyThrough: true},
	{name: "tun6", client: "2001:2:1::5", vip: "2001:2::30", real: "2001:2::30", realPort: 53, realMAC: realMAC6, skip: 40},
	{name: "fullnat6", client: "2001:2:1::5", vip: "2001:2::40", real: "2001:2:2::2", realPort: 5354, realMAC: realMAC6,
		newSrc: "2001:2:3::1", replyThrough: true},
}

// TestFragmentsFollowTheirFirst sends a 4,000-byte UDP datagram in
// fragments through every method, in order and with the first fragment
// last, and checks the fragments that leave make up the datagram as the
// method rewrites it: right addresses and ports, a valid checksum, the
// payload whole, towards the real server's MAC. For NAT and FULLNAT the
// real server's fragmented answer goes back to the client the same way.
func TestFragmentsFollowTheirFirst(t *testing.T) {
	for _, tc := range fragCases {
		for _, firstLast := range []bool{false, true} {
			name := tc.name
			if firstLast {
				name += "/first-last"
			}
			t.Run(name, func(t *testing.T) {
				var sent [][]byte
				d := newFragDataplane(t, 1, &sent)
				w := d.Workers[0]
				data := bigPayload(4000)
				q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: tc.client, dst: tc.vip, proto: header.ProtocolUDP,
					sport: 40000, dport: 53, payload: data}
				frags := fragmentFrame(t, q.frame(t), 1000, 0x1234)
				if firstLast {
					frags = append(frags[1:], frags[0])
				}
				for _, f := range frags {
					v, out := processInChunk(w, f, 0, tunnelHeadroom)
					if v.action == actionTransmit {
						sent = append(sent, out)
					} else if v.action != actionHold {
						t.Fatalf("fragment: %+v drops %v", v, dropCounts(w))
					}
				}
				if len(sent) != len(frags) {
					t.Fatalf("%d of %d fragments sent; drops %v", len(sent), len(frags), dropCounts(w))
				}
				for _, f := range sent {
					if dst := header.Ethernet(f).DestinationAddress(); dst != tc.realMAC {
						t.Fatalf("fragment to MAC %v, want %v", dst, tc.realMAC)
					}
				}
				p, _ := reassemble(t, sent, tc.skip)
				wantSrc := tc.client
				if tc.newSrc != "" {
					wantSrc = tc.newSrc
				}
				if got := netip.AddrFrom16(p.Src).Unmap().String(); got != wantSrc {
					t.Errorf("source %s, want %s", got, wantSrc)
				}
				if got := netip.AddrFrom16(p.Dst).Unmap().String(); got != tc.real || p.DstPort != tc.realPort {
					t.Errorf("destination %s:%d, want %s:%d", got, p.DstPort, tc.real, tc.realPort)
				}
				if !l4ChecksumValid(&p) || !bytes.Equal(p.UDP().Payload(), data) {
					t.Errorf("datagram damaged: checksum valid %v", l4ChecksumValid(&p))
				}
				if n := w.tally.counts[CountFragmentsForwarded]; n != uint64(len(frags)-1) {
					t.Errorf("fragments_forwarded %d, want %d", n, len(frags)-1)
				}
				if !tc.replyThrough {
					return
				}
				// The answer: from the real server to where the request came from.
				sent = nil
				answer := bigPayload(3000)
				r := pkt{srcMAC: tc.realMAC, dstMAC: portMAC1, src: tc.real, dst: wantSrc, proto: header.ProtocolUDP,
					sport: tc.realPort, dport: p.SrcPort, payload: answer}
				for _, f := range fragmentFrame(t, r.frame(t), 1200, 0x77) {
					v, out := processInChunk(w, f, 1, tunnelHeadroom)
					if v.action != actionTransmit {
						t.Fatalf("answer fragment: %+v drops %v", v, dropCounts(w))
					}
					sent = append(sent, out)
				}
				a, _ := reassemble(t, sent, 0)
				if got := netip.AddrFrom16(a.Src).Unmap().String(); got != tc.vip || a.SrcPort != 53 {
					t.Errorf("answer from %s:%d, want %s:53", got, a.SrcPort, tc.vip)
				}
				if got := netip.AddrFrom16(a.Dst).Unmap().String(); got != tc.client || a.DstPort != 40000 {
					t.Errorf("answer to %s:%d, want %s:40000", got, a.DstPort, tc.client)
				}
				if !l4ChecksumValid(&a) || !bytes.Equal(a.UDP().Payload(), answer) {
					t.Errorf("answer damaged")
				}
			})
		}
	}
}

// wireInboxes gives the in-memory workers their hand-over rings, which
// carry the fragment decisions between them.
func wireInboxes(d *memDataplane) {
	for _, w := range d.Workers {
		w.outbox = make([]*spsc.Ring[handoffSlot], len(d.Workers))
	}
	for _, from := range d.Workers {
		for _, to := range d.Workers {
			if from != to {
				r := spsc.New[handoffSlot](16)
				from.outbox[to.ID] = r
				to.inbox = append(to.inbox, r)
			}
		}
	}
}

// TestFragmentsAcrossWorkers: with several workers the later fragments go
// to the datagram's fragment owner, the first to its connection's owner,
// which tells the fragment owner; held fragments leave once it knows.
func TestFragmentsAcrossWorkers(t *testing.T) {
	for _, tc := range []struct{ client, vip, real string }{
		{"198.18.1.5", "198.18.0.20", "198.18.2.3"},
		{"2001:2:1::5", "2001:2::20", "2001:2:2::2"},
	} {
		t.Run(tc.vip, func(t *testing.T) { checkFragmentsAcrossWorkers(t, tc.client, tc.vip, tc.real) })
	}
}

func checkFragmentsAcrossWorkers(t *testing.T, client, vip, real string) {
	var sent [][]byte
	d := newFragDataplane(t, 2, &sent)
	wireInboxes(d)
	crossed := 0
	for i := range 16 {
		sent = sent[:0]
		q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: client, dst: vip, proto: header.ProtocolUDP,
			sport: uint16(41000 + i), dport: 53, payload: bigPayload(3000)}
		frags := fragmentFrame(t, q.frame(t), 1000, uint32(i))
		frags = append(frags[1:], frags[0]) // the first last: the others wait
		var firstAt, laterAt int
		for j, f := range frags {
			chunk := make([]byte, len(f))
			copy(chunk, f)
			v, at := d.deliverTo(j%2, chunk, 0)
			if j == len(frags)-1 {
				firstAt = at
				if v.action != actionTransmit {
					t.Fatalf("first fragment: %+v", v)
				}
				sent = append(sent, chunk)
			} else {
				laterAt = at
			}
		}
		for _, w := range d.Workers {
			w.drainInboxes()
		}
		if firstAt != laterAt {
			crossed++
		}
		if len(sent) != len(frags) {
			t.Fatalf("datagram %d: %d of %d fragments sent", i, len(sent), len(frags))
		}
		p, _ := reassemble(t, sent, 0)
		if got := netip.AddrFrom16(p.Dst).Unmap().String(); got != real || p.DstPort != 5353 {
			t.Fatalf("datagram %d to %s:%d", i, got, p.DstPort)
		}
	}
	if crossed == 0 {
		t.Errorf("no datagram had its first fragment on another worker than the rest: the note path went untested")
	}
}

// TestFragmentLimits: a datagram whose first never comes holds at most
// fragHeldPerFlow fragments, the rest are dropped as fragment_held_full,
// and the held ones are dropped as fragment_timeout after fragTimeout.
func TestFragmentLimits(t *testing.T) {
	var sent [][]byte
	d := newFragDataplane(t, 1, &sent)
	w := d.Workers[0]
	q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", proto: header.ProtocolUDP,
		sport: 40000, dport: 53, payload: bigPayload(8000)}
	frags := fragmentFrame(t, q.frame(t), 1000, 9)
	for _, f := range frags[1:] { // 8 later fragments
		w.processFrame(f, 0)
	}
	if got := dropCounts(w); got["fragment_held_full"] != uint64(len(frags)-1-fragHeldPerFlow) {
		t.Errorf("drops %v, want %d fragment_held_full", got, len(frags)-1-fragHeldPerFlow)
	}
	d.advance(fragTimeout / 2)
	w.expireHeldFragments()
	if got := dropCounts(w)["fragment_timeout"]; got != 0 {
		t.Errorf("%d held fragments expired early", got)
	}
	d.advance(fragTimeout)
	w.expireHeldFragments()
	if got := dropCounts(w)["fragment_timeout"]; got != fragHeldPerFlow {
		t.Errorf("fragment_timeout %d, want %d", got, fragHeldPerFlow)
	}
	// The first fragment now finds nothing held and its decision stands
	// for a late fragment.
	if v := w.processFrame(frags[0], 0); v.action != actionTransmit {
		t.Fatalf("first fragment: %+v", v)
	}
	if v := w.processFrame(frags[1], 0); v.action != actionTransmit || len(sent) != 0 {
		t.Fatalf("late fragment: %+v, %d released", v, len(sent))
	}
}

// TestFragmentMalformed: fragments that cannot be followed are counted
// drops, never panics.
func TestFragmentMalformed(t *testing.T) {
	var sent [][]byte
	d := newFragDataplane(t, 1, &sent)
	w := d.Workers[0]
	q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", proto: header.ProtocolUDP,
		sport: 40000, dport: 53, payload: bigPayload(100)}
	tiny := fragmentFrame(t, q.frame(t), 8, 3)[0] // the UDP header alone: allowed
	if v := w.processFrame(tiny, 0); v.action != actionTransmit {
		t.Errorf("8-byte first fragment: %+v %v", v, dropCounts(w))
	}
	tcp := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", proto: header.ProtocolTCP,
		sport: 40000, dport: 80, flags: syn, payload: bigPayload(100)}
	if v := w.processFrame(fragmentFrame(t, tcp.frame(t), 8, 4)[0], 0); v.reason != DropParseBadTCP {
		t.Errorf("TCP first fragment without its whole header: %+v", v)
	}
}

// fragFixture is one NAT datagram's fragments, on a dataplane that has
// seen its first fragment once (the connection exists).
func fragFixture(tb testing.TB) (*Worker, [][]byte) {
	var sent [][]byte
	d := newFragDataplane(tb, 1, &sent)
	w := d.Workers[0]
	q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", proto: header.ProtocolUDP,
		sport: 40000, dport: 53, payload: bigPayload(2000)}
	frags := fragmentFrame(tb, q.frame(tb), 1000, 0x55)
	if v := w.processFrame(append([]byte(nil), frags[0]...), 0); v.action != actionTransmit {
		tb.Fatalf("first fragment: %+v", v)
	}
	return w, frags
}

// runFragment processes a fresh copy of frame from scratch (the rewrite
// changes it), as the receive loop would.
func runFragment(w *Worker, scratch, frame []byte) verdict {
	copy(scratch, frame)
	pkt := packet{buf: scratch, size: len(frame)}
	return w.process(&pkt, pkt.hdr.Parse(scratch[:len(frame)]), 0, 0, false)
}

func TestFragmentAllocs(t *testing.T) {
	w, frags := fragFixture(t)
	scratch := make([]byte, 2048)
	for i, f := range frags[:2] {
		if n := testing.AllocsPerRun(1000, func() { runFragment(w, scratch, f) }); n != 0 {
			t.Errorf("fragment %d: %v allocations per packet, want 0", i, n)
		}
	}
}

func BenchmarkFragmentFirst(b *testing.B) { benchmarkFragment(b, 0) }

func BenchmarkFragmentLater(b *testing.B) { benchmarkFragment(b, 1) }

func benchmarkFragment(b *testing.B, which int) {
	w, frags := fragFixture(b)
	scratch := make([]byte, 2048)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if v := runFragment(w, scratch, frags[which]); v.action != actionTransmit {
			b.Fatalf("%+v", v)
		}
	}
}

// TestLaterFragmentTTL: a NAT datagram's later fragments are routed as its
// first: one off the TTL / hop limit (the IPv4 checksum still valid), and a
// fragment that arrives with 1 goes no further. An IPv4 sender hears nothing
// about it (RFC 1812 section 4.3.2.7: no ICMP error about a non-first
// fragment); an IPv6 sender hears time exceeded from the VIP, as from a
// Linux router.
func TestLaterFragmentTTL(t *testing.T) {
	for _, tc := range []struct{ client, vip string }{{"198.18.1.5", "198.18.0.20"}, {"2001:2:1::5", "2001:2::20"}} {
		t.Run(tc.vip, func(t *testing.T) {
			var sent [][]byte
			w := newFragDataplane(t, 1, &sent).Workers[0]
			q := pkt{srcMAC: clientMAC, dstMAC: portMAC0, src: tc.client, dst: tc.vip, proto: header.ProtocolUDP,
				sport: 40000, dport: 53, payload: bigPayload(3000)}
			frags := fragmentFrame(t, q.frame(t), 1000, 0x77)
			hopLimit := func(f []byte) int {
				var p header.Packet
				p.Parse(f)
				if p.IsIPv6 {
					return int(p.IPv6().HopLimit())
				}
				if !p.IPv4().IsChecksumValid() {
					t.Fatal("IPv4 header checksum invalid")
				}
				return int(p.IPv4().TTL())
			}
			for i, f := range frags[:2] {
				v, out := processInChunk(w, f, 0, tunnelHeadroom)
				if v.action != actionTransmit || v.port != 1 || hopLimit(out) != 63 {
					t.Fatalf("fragment %d: verdict %+v, TTL %d, want sent on port 1 with 63 (drops %v)", i, v, hopLimit(out), dropCounts(w))
				}
			}
			last := frags[2]
			var p header.Packet
			p.Parse(last)
			if p.IsIPv6 {
				p.IPv6().SetHopLimit(1)
			} else {
				setTTL(p.IPv4(), 1)
			}
			v, out := processInChunk(w, last, 0, tunnelHeadroom)
			if dropCounts(w)["ttl_exceeded"] != 1 {
				t.Fatalf("drops %v, want ttl_exceeded 1", dropCounts(w))
			}
			var answer header.Packet
			switch {
			case !p.IsIPv6 && v.action != actionDrop:
				t.Fatalf("IPv4 fragment with TTL 1: verdict %+v, want a silent drop", v)
			case p.IsIPv6 && (v.action != actionTransmit || v.port != 0 || answer.Parse(out) != header.ParseOK ||
				answer.Proto != header.ProtocolICMPv6 || answer.L4()[0] != header.ICMPv6TimeExceeded || answer.Src != addr(tc.vip).As16()):
				t.Fatalf("IPv6 fragment with hop limit 1: verdict %+v, want time exceeded from the VIP on port 0: %s", v, dump(out))
			}
		})
	}
}
