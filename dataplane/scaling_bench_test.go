package dataplane

import (
	"fmt"
	"net/netip"
	"testing"
)

// Many cores, in process: this machine has two, so the scaling of workers
// is shown by running N workers' batches one after the other on their own
// in-memory rings (xsktest): per-packet cost that stays flat as N grows
// says workers share nothing on the packet path. handoff measures what a
// packet that arrives at the wrong worker costs on top.

// clientsOwnedBy returns n NAT clients (address and port) that worker id of
// workers owns.
func clientsOwnedBy(d *ringDataplane, id, workers, n int) []pkt {
	var out []pkt
	for i := 0; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, 64 + byte(i>>8&0x3f), byte(i)})
		a16 := a.As16()
		if d.Workers[0].table.owners.ownerOf(&a16, 128, workers) != id {
			continue
		}
		out = append(out, natSyn.with(func(p *pkt) { p.src = a.String(); p.srcMAC = routerMAC; p.sport = uint16(20000 + i) }))
	}
	return out
}

const scalingBatch = 32

func BenchmarkWorkerScaling(b *testing.B) {
	for _, workers := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			d := newRingDataplane(b, testSpec(), workers, 64)
			frames := make([][][]byte, workers)
			for id, w := range d.Workers {
				for _, c := range clientsOwnedBy(d, id, workers, scalingBatch) {
					if v := w.processFrame(c.frame(b), 0); v.action != actionTransmit {
						b.Fatalf("SYN: %+v", v)
					}
					frames[id] = append(frames[id], c.with(func(p *pkt) { p.flags = ack }).frame(b))
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				for id, w := range d.Workers {
					for _, f := range frames[id] {
						d.kernels[id][0].Deliver(f)
					}
					w.poll()
					d.kernels[id][1].Drain()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*workers*scalingBatch), "ns/packet")
		})
	}
	b.Run("handoff", func(b *testing.B) {
		d := newRingDataplane(b, testSpec(), 2, 64)
		var frames [][]byte
		for _, c := range clientsOwnedBy(d, 1, 2, scalingBatch) {
			if v := d.Workers[1].processFrame(c.frame(b), 0); v.action != actionTransmit {
				b.Fatalf("SYN: %+v", v)
			}
			frames = append(frames, c.with(func(p *pkt) { p.flags = ack }).frame(b))
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range frames {
				d.kernels[0][0].Deliver(f) // arrives at worker 0, owned by worker 1
			}
			d.Workers[0].poll()
			d.Workers[1].poll()
			d.kernels[1][1].Drain()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*scalingBatch), "ns/packet")
	})
}
