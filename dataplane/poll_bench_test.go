package dataplane

import (
	"testing"

	"fastlvs/nexthop"
)

// BenchmarkPoll measures the worker's whole receive loop for one established
// NAT packet from a client to its real server: the RX ring, the arrival
// port, process, the TX ring (a copy to the other socket, or in place) and
// the completion. One op is one packet in a batch of one.
func BenchmarkPoll(b *testing.B) {
	untagged := natSyn.with(func(p *pkt) { p.flags = ack }).frame(b)
	for _, c := range []struct {
		name      string
		hops      func() *nexthop.Snapshot
		open, est []byte
		out       int // the socket it leaves by
	}{
		{"nat/untagged", testNextHops, natSyn.frame(b), untagged, 1},
		// Tagged on both sockets: the same copy, and the tag rewritten in it.
		{"nat/tagged", func() *nexthop.Snapshot { return vlanNextHops(realsTaggedOn1) }, tag1q(natSyn.frame(b), 100), tag1q(untagged, 100), 1},
		// One trunk: sent in place, the tag rewritten there.
		{"nat/tagged-one-trunk", func() *nexthop.Snapshot { return vlanNextHops(realsOnTrunk) }, tag1q(natSyn.frame(b), 100), tag1q(untagged, 100), 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := newRingDataplane(b, testSpec(), 1, 64)
			d.hops = c.hops()
			w := d.Workers[0]
			d.deliver(b, 0, 0, c.open)
			w.poll()
			if len(d.sent(0, c.out)) != 1 {
				b.Fatalf("the connection did not open: %v", dropCounts(w))
			}
			b.ReportAllocs()
			for b.Loop() {
				d.kernels[0][0].Deliver(c.est)
				w.poll()
				d.kernels[0][c.out].Drain()
			}
			reportMpps(b, 1)
		})
	}
}
