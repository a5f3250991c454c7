package dataplane

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/nexthop"
)

// The in-memory director has two ports: port 0 faces the clients, port 1
// the real servers. Clients 198.18.1.0/24 are on-link; the benchmark's many
// clients 198.18.64.0/18 sit behind a router; 198.19.0.0/16 has no route.
var (
	portMAC0  = header.MAC{0x02, 0xd0, 0, 0, 0, 0x00}
	portMAC1  = header.MAC{0x02, 0xd0, 0, 0, 0, 0x01}
	clientMAC = header.MAC{0x02, 0xc1, 0, 0, 0, 0x05}
	routerMAC = header.MAC{0x02, 0xc1, 0, 0, 0, 0xfe}
	realMAC2  = header.MAC{0x02, 0xa2, 0, 0, 0, 0x02}
	realMAC3  = header.MAC{0x02, 0xa2, 0, 0, 0, 0x03}
	realMAC4  = header.MAC{0x02, 0xa2, 0, 0, 0, 0x04}
	realMAC6  = header.MAC{0x02, 0xa6, 0, 0, 0, 0x02}
)

// testNextHops is the routing picture every in-memory test shares.
func testNextHops() *nexthop.Snapshot {
	return nexthop.NewStaticSnapshot([]header.MAC{portMAC0, portMAC1},
		[]nexthop.StaticRoute{
			{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 0},
			{Prefix: netip.MustParsePrefix("198.18.64.0/18"), Gateway: netip.MustParseAddr("198.18.1.254"), Port: 0},
			{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: 1},
			{Prefix: netip.MustParsePrefix("2001:2:1::/64"), Port: 0},
			{Prefix: netip.MustParsePrefix("2001:2:2::/64"), Port: 1},
		},
		map[netip.Addr]nexthop.StaticNeighbor{
			netip.MustParseAddr("198.18.1.5"):   {MAC: clientMAC, Port: 0},
			netip.MustParseAddr("198.18.1.6"):   {MAC: clientMAC, Port: 0},
			netip.MustParseAddr("198.18.1.254"): {MAC: routerMAC, Port: 0},
			netip.MustParseAddr("198.18.2.2"):   {MAC: realMAC2, Port: 1},
			netip.MustParseAddr("198.18.2.3"):   {MAC: realMAC3, Port: 1},
			netip.MustParseAddr("198.18.2.4"):   {MAC: realMAC4, Port: 1},
			netip.MustParseAddr("2001:2:1::5"):  {MAC: clientMAC, Port: 0},
			netip.MustParseAddr("2001:2:2::2"):  {MAC: realMAC6, Port: 1},
		})
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func realAt(a string, port uint16, weight int32) RealSpec {
	return RealSpec{Addr: addr(a), Port: port, Weight: weight}
}

// testSpec is a table with one service per behaviour under test. Services
// with one real server make every schedule deterministic.
func testSpec() TableSpec {
	return TableSpec{Services: []ServiceSpec{
		{Name: "dr", VIP: addr("198.18.0.10"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR,
			Reals: []RealSpec{realAt("198.18.2.2", 80, 1)}},
		{Name: "nat", VIP: addr("198.18.0.20"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodNAT,
			Reals: []RealSpec{realAt("198.18.2.2", 8080, 1)}},
		{Name: "nat-udp", VIP: addr("198.18.0.20"), Port: 53, Proto: ProtoUDP, Scheduler: "rr", Method: MethodNAT,
			Reals: []RealSpec{realAt("198.18.2.3", 5353, 1)}},
		{Name: "nat6", VIP: addr("2001:2::20"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodNAT,
			Reals: []RealSpec{realAt("2001:2:2::2", 8080, 1)}},
		{Name: "unresolved", VIP: addr("198.18.0.50"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR,
			Reals: []RealSpec{realAt("198.18.2.9", 80, 1)}},
		{Name: "unroutable", VIP: addr("198.18.0.51"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodDR,
			Reals: []RealSpec{realAt("198.19.9.9", 80, 1)}},
	}}
}

// memDataplane is a dataplane without sockets: workers, their connection
// tables and want queues, a registry and the published table, driven by
// calling process on frames.
type memDataplane struct {
	Registry *Registry
	Workers  []*Worker
	Wants    []*nexthop.WantQueue
	tables   atomic.Pointer[Table]
	hops     *nexthop.Snapshot
	workers  int
	now      int64
}

// newMemDataplane builds spec for workers workers, each with a connection
// table of capacity connections.
func newMemDataplane(tb testing.TB, spec TableSpec, workers, capacity int) *memDataplane {
	tb.Helper()
	d := &memDataplane{Registry: NewRegistry(workers), hops: testNextHops(), workers: workers, now: int64(time.Second)}
	d.publish(tb, spec)
	for id := range workers {
		conns, err := conntrack.New(conntrack.Config{Capacity: capacity, Seed: 1}) // fixed: eviction samples at random
		if err != nil {
			tb.Fatalf("make connection table: %v", err)
		}
		wants := nexthop.NewWantQueue()
		w := newWorker(id, workers, conns, &d.tables, func() *nexthop.Snapshot { return d.hops }, wants)
		d.Workers = append(d.Workers, w)
		d.Wants = append(d.Wants, wants)
	}
	d.beginBatch()
	return d
}

// publish builds spec with the dataplane's registry and makes it current
// from the next batch, as Dataplane.Publish does.
func (d *memDataplane) publish(tb testing.TB, spec TableSpec) *Table {
	tb.Helper()
	t, err := Build(spec, d.Registry, d.workers)
	if err != nil {
		tb.Fatalf("build table: %v", err)
	}
	d.tables.Store(t)
	return t
}

// beginBatch starts a new batch on every worker at the dataplane's clock.
func (d *memDataplane) beginBatch() {
	for _, w := range d.Workers {
		w.beginBatch(d.now)
	}
}

// advance moves the clock and starts a new batch.
func (d *memDataplane) advance(by time.Duration) {
	d.now += int64(by)
	d.beginBatch()
}

// dropCounts returns a worker's non-zero drop counters by name.
func dropCounts(w *Worker) map[string]uint64 {
	w.publish()
	out := map[string]uint64{}
	for d := range NumDrops {
		if n := w.Stats.Drops[d].Load(); n != 0 {
			out[d.String()] = n
		}
	}
	return out
}

// dropTotal sums a worker's drop counters.
func dropTotal(w *Worker) uint64 {
	w.publish()
	var n uint64
	for d := range NumDrops {
		n += w.Stats.Drops[d].Load()
	}
	return n
}

// pkt describes a test frame; frame builds it with gopacket, lengths and
// checksums computed.
type pkt struct {
	srcMAC, dstMAC header.MAC
	src, dst       string
	proto          uint8
	sport, dport   uint16
	flags          uint8 // TCP flags; 0 means ACK
	noUDPSum       bool  // send IPv4 UDP without a checksum
	payload        []byte
	padTo          int   // pad the frame with zeros (Ethernet minimum is 60)
	routedBy       uint8 // routers passed: TTL / hop limit is 64 less this
}

const (
	syn    = header.TCPFlagSyn
	ack    = header.TCPFlagAck
	synAck = header.TCPFlagSyn | header.TCPFlagAck
	pshAck = header.TCPFlagPsh | header.TCPFlagAck
	finAck = header.TCPFlagFin | header.TCPFlagAck
	rst    = header.TCPFlagRst
)

func (p pkt) frame(tb testing.TB) []byte {
	tb.Helper()
	src, dst := addr(p.src), addr(p.dst)
	etherType := layers.EthernetTypeIPv4
	if src.Is6() {
		etherType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(p.srcMAC[:]), DstMAC: net.HardwareAddr(p.dstMAC[:]), EthernetType: etherType}
	var ip gopacket.NetworkLayer
	if src.Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64 - p.routedBy, Id: 0x4242, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocol(p.proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64 - p.routedBy, FlowLabel: 0xbeef,
			NextHeader: layers.IPProtocol(p.proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	ls := []gopacket.SerializableLayer{eth, ip.(gopacket.SerializableLayer)}
	switch p.proto {
	case header.ProtocolTCP:
		flags := p.flags
		if flags == 0 {
			flags = ack
		}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport),
			Seq: 0x01020304, Ack: 0x0a0b0c0d, Window: 64240,
			FIN: flags&header.TCPFlagFin != 0, SYN: flags&header.TCPFlagSyn != 0, RST: flags&header.TCPFlagRst != 0,
			PSH: flags&header.TCPFlagPsh != 0, ACK: flags&header.TCPFlagAck != 0}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, tcp)
	case header.ProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize %+v: %v", p, err)
	}
	frame := append([]byte(nil), buf.Bytes()...)
	if p.noUDPSum {
		var parsed header.Packet
		if r := parsed.Parse(frame); r != header.ParseOK {
			tb.Fatalf("parse built frame: %v", r)
		}
		parsed.UDP().SetChecksum(0)
	}
	for len(frame) < p.padTo {
		frame = append(frame, 0)
	}
	return frame
}

// reply returns the packet travelling the other way with the same flags.
func (p pkt) reply() pkt {
	p.src, p.dst = p.dst, p.src
	p.sport, p.dport = p.dport, p.sport
	p.srcMAC, p.dstMAC = p.dstMAC, p.srcMAC
	p.routedBy = 0 // a new packet from the other end
	return p
}

// routed is p as the director forwards it for NAT and FULLNAT: one hop
// further.
func (p pkt) routed() pkt {
	p.routedBy++
	return p
}

// with returns p changed by fn, so fixture rows read as "this packet, but".
func (p pkt) with(fn func(*pkt)) pkt {
	fn(&p)
	return p
}

// l4ChecksumValid reports whether a parsed frame's TCP or UDP checksum
// verifies over the pseudo-header (an IPv4 UDP checksum of 0 means none).
func l4ChecksumValid(p *header.Packet) bool {
	src, dst := p.Src[:], p.Dst[:]
	if !p.IsIPv6 {
		src, dst = p.Src[12:], p.Dst[12:]
	}
	l4 := p.L4()
	if p.Proto == header.ProtocolUDP {
		u := p.UDP()
		if u.Checksum() == 0 && !p.IsIPv6 {
			return true
		}
		l4 = l4[:u.Length()]
	}
	return header.Checksum(l4, header.PseudoHeaderChecksum(p.Proto, src, dst, uint16(len(l4)))) == 0xffff
}

// processFrame runs one frame, with no headroom, through process as a
// handed-over frame goes (parsed alone, no batch lookup).
func (w *Worker) processFrame(frame []byte, inPort int) verdict {
	pkt := &packet{buf: frame, size: len(frame), inPort: inPort}
	return w.process(pkt, pkt.hdr.Parse(frame), 0, 0, false)
}

// processIn runs the frame at buf[off:off+size] through process, with the
// bytes before off as headroom, and returns the verdict and the bytes to
// send.
func (w *Worker) processIn(buf []byte, off, size, inPort int) (verdict, []byte) {
	pkt := &packet{buf: buf, off: off, size: size, inPort: inPort}
	v := w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false)
	return v, pkt.frame()
}
