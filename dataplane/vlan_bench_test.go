package dataplane

import (
	"testing"

	"fastlvs/nexthop"
)

// BenchmarkVLAN measures one established NAT packet from the client to the
// real server through what poll does besides the rings: the arrival port
// from the tag, process, and the egress tag (in place, or in the copy into
// the other socket's frame). Run side by side:
//
//   - untagged: two untagged interfaces (the copy to the other socket).
//   - tagged: client and real server on VLANs 100 and 200 of one trunk
//     (the tag rewritten in place).
//   - tagged-to-untagged: client on VLAN 100, real server on the other,
//     untagged interface (the tag dropped in the copy).
func BenchmarkVLAN(b *testing.B) {
	for _, c := range []struct {
		name   string
		hops   *nexthop.Snapshot
		tagged bool
	}{
		{"untagged", testNextHops(), false},
		{"tagged", vlanNextHops(realsOnTrunk), true},
		{"tagged-to-untagged", vlanNextHops(realsUntagged), true},
	} {
		b.Run("nat/"+c.name, func(b *testing.B) {
			d := newMemDataplane(b, testSpec(), 1, 1024)
			d.hops = c.hops
			d.beginBatch()
			w := d.Workers[0]
			open, est := natSyn.frame(b), natSyn.with(func(p *pkt) { p.flags = ack }).frame(b)
			if c.tagged {
				open, est = tag1q(open, 100), tag1q(est, 100)
			}
			benchVLANPacket(b, w, open)
			b.ReportAllocs()
			for b.Loop() {
				benchVLANPacket(b, w, est)
			}
			reportMpps(b, 1)
		})
	}
}

var vlanBenchBuf, vlanBenchOut [handoffHeadroom + 2048]byte

// benchVLANPacket runs frame through what poll does with it on socket 0.
func benchVLANPacket(b *testing.B, w *Worker, frame []byte) {
	copy(vlanBenchBuf[handoffHeadroom:], frame)
	pkt := &w.batch[0]
	*pkt = packet{buf: vlanBenchBuf[:], off: handoffHeadroom, size: len(frame)}
	if tagged(pkt) && !w.arriveTagged(pkt) {
		b.Fatalf("dropped on arrival: %v", dropCounts(w))
	}
	v := w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false)
	if v.action != actionTransmit {
		b.Fatalf("dropped: %v", dropCounts(w))
	}
	if _, inPlace := w.sendsInPlace(pkt, 0, v.port); !inPlace {
		_, tpid, vlan := w.hop.Link(v.port)
		if copyRetagged(vlanBenchOut[:], pkt.frame(), tpid, vlan) == 0 {
			b.Fatal("copy failed")
		}
	}
}
