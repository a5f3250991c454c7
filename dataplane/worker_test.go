package dataplane

import (
	"bytes"
	"fmt"
	"testing"

	"fastlvs/xsk"
	"fastlvs/xsk/xsktest"
)

// ringDataplane is a memDataplane whose workers own in-memory sockets, one
// per port, whose kernel side the test plays: poll, transmit, copies
// between ports, hand-over and frame recycling run as on a real port. A
// worker's sockets share one UMEM, as Open makes them, unless the dataplane
// was made with separateUMEMs.
type ringDataplane struct {
	*memDataplane
	kernels [][]*xsktest.Kernel // [worker][port]
}

func newRingDataplane(tb testing.TB, spec TableSpec, workers, ringSize int) *ringDataplane {
	return newRingDataplanePorts(tb, spec, workers, ringSize, 2, true)
}

func newRingDataplanePorts(tb testing.TB, spec TableSpec, workers, ringSize, ports int, shared bool) *ringDataplane {
	tb.Helper()
	d := &ringDataplane{memDataplane: newMemDataplane(tb, spec, workers, 1024)}
	for _, w := range d.Workers {
		var ks []*xsktest.Kernel
		for port := range ports {
			var k *xsktest.Kernel
			switch {
			case !shared:
				k = xsktest.New(4*ringSize, ringSize)
			case port == 0:
				k = xsktest.New(4*ringSize*ports, ringSize) // sized for every port, as Open sizes it
			default:
				k = xsktest.NewSharing(ks[0], ringSize)
			}
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
// by the kernel side of a socket using that UMEM: none lost by a drop, a
// copy or a hand-over.
func (d *ringDataplane) checkNoLeak(tb testing.TB) {
	tb.Helper()
	for wi, w := range d.Workers {
		held := map[*xsk.Socket]int{} // frames the kernel holds, by the first socket of their UMEM
		owner := make([]*xsk.Socket, len(d.kernels[wi]))
		for port := range d.kernels[wi] {
			d.sent(wi, port) // complete what is on the TX ring
			sock := w.ports[port].sock
			sock.Refill()
			owner[port] = sock
			for _, p := range w.ports[:port] {
				if p.sock.SharesUMEM(sock) {
					owner[port] = p.sock
					break
				}
			}
		}
		for port, k := range d.kernels[wi] {
			held[owner[port]] += k.FramesInFlight()
		}
		for port, k := range d.kernels[wi] {
			if owner[port] != w.ports[port].sock {
				continue
			}
			if got := owner[port].FreeFrames() + held[owner[port]]; got != k.Frames() {
				tb.Fatalf("worker %d port %d: %d of %d frames accounted for", wi, port, got, k.Frames())
			}
		}
	}
}

// TestPollForwardsBetweenPortsAndRecyclesFrames, with the worker's sockets
// on one UMEM and, as where a kernel cannot share one, on a UMEM each
// (frames crossing ports copied).
func TestPollForwardsBetweenPortsAndRecyclesFrames(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			forwardBetweenPorts(t, newRingDataplanePorts(t, testSpec(), 1, 64, 2, shared))
		})
	}
}

func forwardBetweenPorts(t *testing.T, d *ringDataplane) {
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

// TestPollSendsAcrossPortsInPlace: with a shared UMEM a frame crossing
// ports leaves from the frame it arrived in.
func TestPollSendsAcrossPortsInPlace(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	w := d.Workers[0]
	d.deliver(t, 0, 0, natSyn.frame(t))
	in := d.kernels[0][0].LastDelivered()
	w.poll()
	out := d.kernels[0][1].TransmittedFrames()
	if len(out) != 1 || out[0] != in {
		t.Fatalf("port 1 sent from frames %v, want the one the SYN arrived in (%d)", out, in)
	}
	d.checkNoLeak(t)
}

// TestPollBatchesConvergingOnOnePort: frames from three ports leaving by a
// fourth in one poll overflow its transmit batch; the full batch goes to
// the kernel first, every frame leaves, and nothing allocates.
func TestPollBatchesConvergingOnOnePort(t *testing.T) {
	const ports = 4
	d := newRingDataplanePorts(t, testSpec(), 1, 256, ports, true)
	w := d.Workers[0]
	inPorts := []int{0, 2, 3}
	var frames [][]byte
	for i := range len(inPorts) * batchSize {
		frames = append(frames, natSyn.with(func(p *pkt) { p.sport = uint16(20000 + i) }).frame(t))
	}
	out := d.kernels[0][1]
	run := func() (handled, sent int) {
		for i, f := range frames {
			if !d.kernels[0][inPorts[i/batchSize]].Deliver(f) {
				t.Fatalf("frame %d not delivered", i)
			}
		}
		handled = w.poll()
		return handled, out.Drain()
	}
	if handled, sent := run(); handled != len(frames) || sent != len(frames) {
		t.Fatalf("poll handled %d and port 1 sent %d of %d frames (drops %v)", handled, sent, len(frames), dropCounts(w))
	}
	// AllocsPerRun's warm-up run would hide a batch that grew once.
	if c := cap(w.ports[1].tx); c != 2*batchSize {
		t.Fatalf("port 1's transmit batch grew to %d frames", c)
	}
	if n := testing.AllocsPerRun(20, func() { run() }); n != 0 {
		t.Fatalf("%v allocations per poll", n)
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
