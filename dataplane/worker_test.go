package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/xsk/xsktest"
)

// ringDataplane is a memDataplane whose workers own in-memory sockets, one
// per port, whose kernel side the test plays: poll, transmit, copies
// between ports, hand-over and frame recycling run as on a real port.
type ringDataplane struct {
	*memDataplane
	kernels [][]*xsktest.Kernel // [worker][port]
}

func newRingDataplane(tb testing.TB, spec TableSpec, workers, ringSize int) *ringDataplane {
	tb.Helper()
	d := &ringDataplane{memDataplane: newMemDataplane(tb, spec, workers, 1024)}
	for _, w := range d.Workers {
		var ks []*xsktest.Kernel
		for range 2 {
			k := xsktest.New(4*ringSize, ringSize)
			w.addPort(k.Socket())
			ks = append(ks, k)
		}
		d.kernels = append(d.kernels, ks)
	}
	connectWorkers(d.Workers)
	return d
}

// deliver receives frame on worker w's socket of port.
func (d *ringDataplane) deliver(tb testing.TB, w, port int, frame []byte) {
	tb.Helper()
	if !d.kernels[w][port].Deliver(frame) {
		tb.Fatalf("worker %d port %d: could not deliver (fill empty %d, rx full %d)", w, port,
			d.kernels[w][port].FillEmpty(), d.kernels[w][port].RXFull())
	}
}

// sent is what worker w transmitted on port since the last call.
func (d *ringDataplane) sent(w, port int) [][]byte { return d.kernels[w][port].Transmitted() }

// checkNoLeak asserts every UMEM frame is either free in user space or held
// by the kernel side: none lost by a drop, a copy or a hand-over.
func (d *ringDataplane) checkNoLeak(tb testing.TB) {
	tb.Helper()
	for wi, w := range d.Workers {
		for port, k := range d.kernels[wi] {
			d.sent(wi, port) // complete what is on the TX ring
			w.ports[port].sock.Refill()
			if got := w.ports[port].sock.FreeFrames() + k.FramesInFlight(); got != k.Frames() {
				tb.Fatalf("worker %d port %d: %d of %d frames accounted for", wi, port, got, k.Frames())
			}
		}
	}
}

func TestPollForwardsBetweenPortsAndRecyclesFrames(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	w := d.Workers[0]
	d.deliver(t, 0, 0, natSyn.frame(t))
	if n := w.poll(); n != 1 {
		t.Fatalf("poll handled %d frames, want 1", n)
	}
	if got := d.sent(0, 0); len(got) != 0 {
		t.Fatalf("port 0 sent %d frames, want none", len(got))
	}
	out := d.sent(0, 1)
	if want := natSyn.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t); len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("port 1 sent %d frames; want the SYN rewritten towards the real server\nwant: %s", len(out), dump(want))
	}
	// The real server's answer comes in on port 1 and leaves by port 0.
	reply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck)
	d.deliver(t, 0, 1, reply.frame(t))
	w.poll()
	back := d.sent(0, 0)
	if want := natSyn.with(func(p *pkt) { p.flags = synAck }).reply().routed().frame(t); len(back) != 1 || !bytes.Equal(back[0], want) {
		t.Fatalf("port 0 sent %d frames; want the SYN/ACK from the VIP", len(back))
	}
	if got := w.Stats.Count(CountTxPackets); got != 2 {
		t.Fatalf("tx_packets %d, want 2", got)
	}
	d.checkNoLeak(t)
}

func TestPollTransmitsInPlaceOnTheArrivalPort(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	w := d.Workers[0]
	// A DR packet arriving from the real servers' side leaves by that side.
	in := drSyn.with(func(p *pkt) { p.dstMAC = portMAC1 }).frame(t)
	d.deliver(t, 0, 1, in)
	free := w.ports[1].sock.FreeFrames()
	w.poll()
	out := d.sent(0, 1)
	if len(out) != 1 || !bytes.Equal(out[0][12:], in[12:]) {
		t.Fatalf("port 1 sent %d frames, want the SYN with new MACs only", len(out))
	}
	// In place: no frame was taken for a copy (the refill may have moved
	// free frames to the fill ring, never the other way).
	if w.ports[1].sock.FreeFrames() > free {
		t.Fatalf("free frames grew from %d to %d: the frame was copied", free, w.ports[1].sock.FreeFrames())
	}
	d.checkNoLeak(t)
}

func TestPollCountsAFullTXRingAndRecyclesTheFrames(t *testing.T) {
	const ring = 8
	d := newRingDataplane(t, testSpec(), 1, ring)
	w := d.Workers[0]
	for i := range ring {
		d.deliver(t, 0, 1, drSyn.with(func(p *pkt) { p.dstMAC = portMAC1; p.sport = uint16(20000 + i) }).frame(t))
	}
	w.poll() // all eight fill the TX ring
	for i := range ring {
		d.deliver(t, 0, 1, drSyn.with(func(p *pkt) { p.dstMAC = portMAC1; p.sport = uint16(30000 + i) }).frame(t))
	}
	w.poll() // nobody emptied the TX ring: all eight drop
	if got := dropCounts(w)["tx_ring_full"]; got != ring {
		t.Fatalf("tx_ring_full %d, want %d (drops %v)", got, ring, dropCounts(w))
	}
	if got := len(d.sent(0, 1)); got != ring {
		t.Fatalf("sent %d frames, want the first %d", got, ring)
	}
	d.checkNoLeak(t)
}

func TestPollDropsWhatDoesNotParseAndFreesIt(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	w := d.Workers[0]
	d.deliver(t, 0, 0, []byte{1, 2, 3})
	w.poll()
	if got := dropCounts(w)["too_short"]; got != 1 {
		t.Fatalf("too_short %d, want 1 (drops %v)", got, dropCounts(w))
	}
	if got := w.Stats.Count(CountRxPackets); got != 1 {
		t.Fatalf("rx_packets %d, want 1", got)
	}
	d.checkNoLeak(t)
}

func TestPollHandsAFrameToItsOwnerWhichSendsIt(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 2, 64)
	// Find a client port whose connection worker 1 owns (NAT: by client).
	owner := d.Workers[0].table.owners.ownerOf(&[16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 1, 15: 5}, 128, 2)
	arrival := 1 - owner
	d.deliver(t, arrival, 0, natSyn.frame(t))
	d.Workers[arrival].poll()
	if got := d.Workers[arrival].Stats.Count(CountHandoffOut); got != 1 {
		t.Fatalf("worker %d handed out %d frames, want 1 (drops %v)", arrival, got, dropCounts(d.Workers[arrival]))
	}
	if got := len(d.sent(arrival, 1)); got != 0 {
		t.Fatalf("the arrival worker sent %d frames itself", got)
	}
	d.Workers[owner].poll()
	if got := d.Workers[owner].Stats.Count(CountHandoffIn); got != 1 {
		t.Fatalf("owner took in %d frames, want 1", got)
	}
	out := d.sent(owner, 1)
	if want := natSyn.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t); len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("owner sent %d frames on port 1, want the rewritten SYN", len(out))
	}
	d.checkNoLeak(t)
}

func TestPollAllocatesNothing(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	w := d.Workers[0]
	d.deliver(t, 0, 0, natSyn.frame(t))
	w.poll()
	est := natSyn.with(func(p *pkt) { p.flags = ack }).frame(t)
	allocs := testing.AllocsPerRun(200, func() {
		d.kernels[0][0].Deliver(est)
		w.poll()
		d.kernels[0][1].Drain()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per polled packet, want 0", allocs)
	}
}
