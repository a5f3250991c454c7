package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// Offsets in an untagged IPv4 TCP/UDP frame, for stamping flows into a
// template without rebuilding it. process does not verify checksums, so
// the stamped frames need none.
const (
	offIPv4Src = header.EthernetMinimumSize + 12
	offIPv4Dst = header.EthernetMinimumSize + 16
	offSrcPort = header.EthernetMinimumSize + header.IPv4MinimumSize
	offDstPort = offSrcPort + 2
)

// benchClient is client i of the benchmark's 198.18.64.0/18 (behind the
// router): 16384 addresses times 60000 ports of distinct endpoints.
func benchClient(i int) ([4]byte, uint16) {
	host := i % 16384
	return [4]byte{198, 18, 64 + byte(host>>8), byte(host)}, uint16(1024 + (i/16384)%60000)
}

// stampClient makes a client→VIP frame come from client i.
func stampClient(frame []byte, i int) {
	a, port := benchClient(i)
	copy(frame[offIPv4Src:], a[:])
	binary.BigEndian.PutUint16(frame[offSrcPort:], port)
}

// stampReplyClient makes a real→client frame go to client i.
func stampReplyClient(frame []byte, i int) {
	a, port := benchClient(i)
	copy(frame[offIPv4Dst:], a[:])
	binary.BigEndian.PutUint16(frame[offDstPort:], port)
}

// benchFlows are the 64-byte templates of one forwarding method's traffic:
// a client's SYN and ACK to the VIP and, for NAT, the real server's SYN-ACK
// and ACK back.
type benchFlows struct {
	syn, ack, replySynAck, replyAck []byte
	scratch                         []byte // where establish builds its frames
	// locals[i] is FULLNAT flow i's local address:port, learned from the
	// SYN as the director rewrote it (nil for the other methods).
	locals []localEnd
}

// localEnd is a FULLNAT connection's local address and port.
type localEnd struct {
	addr [4]byte
	port uint16
}

func newBenchFlows(tb testing.TB, method Method) benchFlows {
	tb.Helper()
	in := pkt{srcMAC: routerMAC, dstMAC: portMAC0, src: "198.18.64.0", dst: "198.18.0.10",
		proto: header.ProtocolTCP, sport: 1024, dport: 80, flags: syn, padTo: 60}
	switch method {
	case MethodNAT:
		in.dst = "198.18.0.20"
	case MethodFullNAT:
		in.dst = "198.18.0.30"
	}
	reply := pkt{srcMAC: realMAC2, dstMAC: portMAC1, src: "198.18.2.2", dst: in.src,
		proto: header.ProtocolTCP, sport: 8080, dport: in.sport, flags: synAck, padTo: 60}
	return benchFlows{
		syn:         in.frame(tb),
		ack:         in.with(func(p *pkt) { p.flags = ack }).frame(tb),
		replySynAck: reply.frame(tb),
		replyAck:    reply.with(func(p *pkt) { p.flags = ack }).frame(tb),
		scratch:     make([]byte, 60),
	}
}

// establish runs a full handshake of client i through worker w.
func (f benchFlows) establish(tb testing.TB, w *Worker, method Method, i int) {
	f.send(tb, w, f.syn, 0, stampClient, i)
	if method == MethodFullNAT {
		f.locals[i] = localEnd{addr: [4]byte(f.scratch[offIPv4Src:]), port: binary.BigEndian.Uint16(f.scratch[offSrcPort:])}
	}
	if stamp := f.stampReply(method); stamp != nil {
		f.send(tb, w, f.replySynAck, 1, stamp, i)
	}
	f.send(tb, w, f.ack, 0, stampClient, i)
}

// stampReply returns what makes a real server's frame a reply of flow i,
// or nil when replies do not pass the director (DR).
func (f benchFlows) stampReply(method Method) func([]byte, int) {
	switch method {
	case MethodNAT:
		return stampReplyClient
	case MethodFullNAT:
		return func(frame []byte, i int) {
			copy(frame[offIPv4Dst:], f.locals[i].addr[:])
			binary.BigEndian.PutUint16(frame[offDstPort:], f.locals[i].port)
		}
	}
	return nil
}

func (f benchFlows) send(tb testing.TB, w *Worker, tmpl []byte, port int, stamp func([]byte, int), i int) {
	copy(f.scratch, tmpl)
	stamp(f.scratch, i)
	if v := w.processFrame(f.scratch, port); v.action != actionTransmit {
		tb.Fatalf("handshake of flow %d dropped: %v", i, dropCounts(w))
	}
}

type benchMethod struct {
	name   string
	method Method
}

var benchMethods = []benchMethod{{"dr", MethodDR}, {"nat", MethodNAT}}

// reportMpps adds packets per second (millions, on one core) beside ns/op.
func reportMpps(b *testing.B, packetsPerOp int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*packetsPerOp)
	if packetsPerOp > 1 {
		b.ReportMetric(ns, "ns/packet")
	}
	b.ReportMetric(1e3/ns, "Mpps")
}

// BenchmarkProcess measures process() on one core for one packet at a time.
// Every iteration copies a 64-byte frame into the receive buffer first (the
// rewrites are in place), which the numbers include: a few ns.
//
//   - new: every packet is the SYN of a new connection (distinct clients),
//     in a table of 1M connections recycled when full (timer stopped).
//   - established, reply: one established flow, over and over (hot caches);
//     see BenchmarkWorkerLoop for a million flows.
func BenchmarkProcess(b *testing.B) {
	const capacity = 1 << 20
	for _, m := range benchMethods {
		b.Run(m.name+"/new", func(b *testing.B) {
			d := newMemDataplane(b, testSpec(), 1, capacity)
			w := d.Workers[0]
			f := newBenchFlows(b, m.method)
			buf := make([]byte, len(f.syn))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if w.conns.Len() == capacity {
					b.StopTimer()
					w.conns = nil
					runtime.GC()
					w.conns = newBenchConns(b, capacity)
					b.StartTimer()
				}
				copy(buf, f.syn)
				stampClient(buf, i)
				if v := w.processFrame(buf, 0); v.action != actionTransmit {
					b.Fatalf("SYN %d dropped: %v", i, dropCounts(w))
				}
				i++
			}
			reportMpps(b, 1)
		})
		b.Run(m.name+"/established", func(b *testing.B) {
			d := newMemDataplane(b, testSpec(), 1, 1024)
			w := d.Workers[0]
			f := newBenchFlows(b, m.method)
			f.establish(b, w, m.method, 0)
			benchOneFrame(b, w, f.ack, 0)
		})
	}
	b.Run("nat/reply", func(b *testing.B) {
		d := newMemDataplane(b, testSpec(), 1, 1024)
		w := d.Workers[0]
		f := newBenchFlows(b, MethodNAT)
		f.establish(b, w, MethodNAT, 0)
		benchOneFrame(b, w, f.replyAck, 1)
	})
}

func benchOneFrame(b *testing.B, w *Worker, frame []byte, port int) {
	buf := make([]byte, len(frame))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpuStart := threadCPUNanos(b)
	for b.Loop() {
		copy(buf, frame)
		if v := w.processFrame(buf, port); v.action != actionTransmit {
			b.Fatalf("dropped: %v", dropCounts(w))
		}
	}
	reportMpps(b, 1)
	reportCPU(b, cpuStart, 1)
}

func newBenchConns(tb testing.TB, capacity int) *conntrack.Table {
	tb.Helper()
	conns, err := conntrack.New(conntrack.Config{Capacity: capacity})
	if err != nil {
		tb.Fatal(err)
	}
	return conns
}

// BenchmarkWorkerLoop runs the worker's batch loop without sockets over an
// in-memory ring of 64-byte frames of 1M established flows in random order
// (NAT, FULLNAT: half client packets, half replies), batch by batch as poll
// does: a batch of 64 frames lands in the receive buffer, the batch clock
// is read, each frame is processed and the expiry wheel runs. One op is one
// batch. huge-MB is how much of the connection table's records and index
// the kernel backs with transparent huge pages.
func BenchmarkWorkerLoop(b *testing.B) {
	const flows = 1 << 20
	methods := append(slices.Clip(benchMethods), benchMethod{"fullnat", MethodFullNAT})
	for _, mode := range []struct {
		name    string
		batched bool
	}{{"single", false}, {"batched", true}} {
		for _, m := range methods {
			b.Run("established_flows=1M/"+m.name+"/"+mode.name, func(b *testing.B) {
				benchmarkWorkerLoop(b, m.method, flows, mode.batched)
			})
		}
	}
}

// benchmarkWorkerLoop runs batches of established traffic over flows
// connections: one lookup per packet (single), or the receive loop's
// LookupBatch for the whole batch (batched).
func benchmarkWorkerLoop(b *testing.B, method Method, flows int, batched bool) {
	spec := testSpec()
	if method == MethodFullNAT {
		spec = benchFullNATSpec()
	}
	d := newMemDataplane(b, spec, 1, 2*flows)
	w := d.Workers[0]
	f := newBenchFlows(b, method)
	if method == MethodFullNAT {
		f.locals = make([]localEnd, flows)
	}
	for i := range flows {
		f.establish(b, w, method, i)
	}
	ring, ports := trafficRing(f, method, flows)
	frameLen := len(f.ack)
	rx := make([]byte, batchSize*frameLen)
	next := 0
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpuStart := threadCPUNanos(b)
	for b.Loop() {
		copy(rx, ring[next*frameLen:(next+batchSize)*frameLen])
		d.now += int64(2 * time.Microsecond)
		w.beginBatch(d.now)
		for j := range batchSize {
			w.batch[j].receive(rx[j*frameLen:(j+1)*frameLen], 0, frameLen, int(ports[next+j]))
		}
		if batched {
			w.lookupBatch(batchSize)
		}
		for j := range batchSize {
			pkt := &w.batch[j]
			var v verdict
			if batched {
				ref, dir := w.conns.Resolve(&w.lookups, j, &w.batchKeys[j])
				v = w.process(pkt, w.batchResults[j], ref, dir, true)
			} else {
				v = w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false)
			}
			if v.action != actionTransmit {
				b.Fatalf("established flow dropped: %v", dropCounts(w))
			}
		}
		w.conns.Expire(w.now, expireBudget, w.expireFn)
		if next += batchSize; next == flows {
			next = 0
		}
	}
	reportMpps(b, batchSize)
	reportCPU(b, cpuStart, batchSize)
	huge, err := w.conns.HugePageBytes()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(huge)/(1<<20), "huge-MB")
}

// reportCPU reports the thread CPU time per packet since cpuStart (read
// with threadCPUNanos just before the loop, the goroutine locked to its
// thread).
func reportCPU(b *testing.B, cpuStart int64, packetsPerOp int) {
	b.ReportMetric(float64(threadCPUNanos(b)-cpuStart)/float64(b.N*packetsPerOp), "cpu-ns/packet")
}

// threadCPUNanos is the CPU time of the calling thread (lock it first).
// Other work on this shared 2-core machine stretches the wall clock that
// ns/packet divides; the loop's own CPU time per packet is steadier.
func threadCPUNanos(tb testing.TB) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return ts.Nano()
}

// benchFullNATSpec is fullnatSpec's first service with enough local
// addresses for a million connections to one real server (~64k ports each).
func benchFullNATSpec() TableSpec {
	spec := fullnatSpec()
	spec.Services = spec.Services[:1]
	spec.Services[0].LocalAddresses = nil
	for i := range 20 {
		spec.Services[0].LocalAddresses = append(spec.Services[0].LocalAddresses, netip.AddrFrom4([4]byte{198, 18, 3, byte(1 + i)}))
	}
	return spec
}

// trafficRing lays out one 64-byte frame per flow, flows in random order,
// and the port each frame arrives on.
func trafficRing(f benchFlows, method Method, flows int) (ring []byte, ports []uint8) {
	frameLen := len(f.ack)
	ring = make([]byte, flows*frameLen)
	ports = make([]uint8, flows)
	rng := rand.New(rand.NewPCG(1, 2))
	stampReply := f.stampReply(method)
	for slot, i := range rng.Perm(flows) {
		frame := ring[slot*frameLen : (slot+1)*frameLen]
		if stampReply != nil && rng.IntN(2) == 1 {
			copy(frame, f.replyAck)
			stampReply(frame, i)
			ports[slot] = 1
		} else {
			copy(frame, f.ack)
			stampClient(frame, i)
		}
	}
	return ring, ports
}

// TestProcessAllocs: the per-packet path allocates nothing, for either
// method, for new and established connections and for NAT replies, with
// and without persistence templates.
func TestProcessAllocs(t *testing.T) {
	persistent := testSpec()
	for i := range persistent.Services {
		persistent.Services[i].Persistence = 300 * time.Second
	}
	for _, m := range benchMethods {
		for _, spec := range []TableSpec{testSpec(), persistent} {
			testProcessAllocs(t, spec, m.name, m.method)
		}
	}
}

// allocCase is one kind of packet of an established flow.
type allocCase struct {
	name  string
	tmpl  []byte
	port  int
	stamp func([]byte, int)
}

func testProcessAllocs(t *testing.T, spec TableSpec, name string, method Method) {
	if spec.Services[0].Persistence > 0 {
		name += " persistent"
	}
	d := newMemDataplane(t, spec, 1, 1<<14)
	w := d.Workers[0]
	f := newBenchFlows(t, method)
	buf := make([]byte, len(f.syn))
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, f.syn)
		stampClient(buf, i)
		i++
		if v := w.processFrame(buf, 0); v.action != actionTransmit {
			t.Fatalf("%s: SYN dropped: %v", name, dropCounts(w))
		}
	}); n != 0 {
		t.Errorf("%s new connection: %v allocations per packet, want 0", name, n)
	}
	const client = 1 << 20
	f.establish(t, w, method, client)
	cases := []allocCase{{"established", f.ack, 0, stampClient}}
	if method == MethodNAT {
		cases = append(cases, allocCase{"reply", f.replyAck, 1, stampReplyClient})
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(1000, func() {
			copy(buf, c.tmpl)
			c.stamp(buf, client)
			if v := w.processFrame(buf, c.port); v.action != actionTransmit {
				t.Fatalf("%s %s dropped: %v", name, c.name, dropCounts(w))
			}
		}); n != 0 {
			t.Errorf("%s %s: %v allocations per packet, want 0", name, c.name, n)
		}
	}
}
