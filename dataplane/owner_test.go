package dataplane

import (
	"fmt"

	"fastlvs/conntrack"
	"testing"
	"time"
)

// deliverTo runs frame through the worker it arrives at and then through
// every worker it is handed to, as the inboxes would, and returns the last
// verdict and the worker that gave it.
func (d *memDataplane) deliverTo(arrival int, frame []byte, inPort int) (verdict, int) {
	pkt := &packet{buf: frame, size: len(frame), inPort: inPort}
	w := arrival
	for {
		v := d.Workers[w].process(pkt, pkt.hdr.Parse(frame), 0, 0, false)
		if v.action != actionHandoff {
			return v, w
		}
		pkt.hops++
		w = v.owner
	}
}

// natFlow is one client connection of the "nat" service of testSpec.
func natFlow(i int) pkt {
	return natSyn.with(func(p *pkt) {
		p.src = fmt.Sprintf("198.18.64.%d", i%250)
		p.sport = uint16(20000 + i)
		p.srcMAC = routerMAC
	})
}

// establish opens n NAT connections, each arriving at worker i%workers.
func establish(t *testing.T, d *memDataplane, n int) {
	t.Helper()
	for i := range n {
		in := natFlow(i)
		if v, _ := d.deliverTo(i%len(d.Workers), in.frame(t), 0); v.action != actionTransmit {
			t.Fatalf("SYN %d: %+v drops %v", i, v, dropCounts(d.Workers[0]))
		}
	}
}

// checkFlowsAlive sends each connection's next client packet and the real
// server's reply, arriving at any worker, and counts those that found their
// connection.
func checkFlowsAlive(t *testing.T, d *memDataplane, n int) int {
	t.Helper()
	alive := 0
	for i := range n {
		in := natFlow(i).with(func(p *pkt) { p.flags = ack })
		reply := natFlow(i).toReal("198.18.2.2", 8080, realMAC2).fromReal(ack)
		vIn, _ := d.deliverTo((i+1)%len(d.Workers), in.frame(t), 0)
		vOut, _ := d.deliverTo(i%len(d.Workers), reply.frame(t), 1)
		if vIn.action == actionTransmit && vOut.action == actionTransmit {
			alive++
		}
	}
	return alive
}

func TestOwnershipSurvivesAddingAPersistentService(t *testing.T) {
	const flows = 200
	d := newMemDataplane(t, testSpec(), 4, 4096)
	establish(t, d, flows)
	if alive := checkFlowsAlive(t, d, flows); alive != flows {
		t.Fatalf("before the change %d of %d flows work", alive, flows)
	}
	// A new service with a /24 persistence mask on the same real server.
	spec := testSpec()
	spec.Services = append(spec.Services, ServiceSpec{Name: "sticky", VIP: addr("198.18.0.60"), Port: 80,
		Proto: ProtoTCP, Scheduler: "rr", Method: MethodNAT, Persistence: time.Minute, PersistenceBits: 24,
		Reals: []RealSpec{realAt("198.18.2.2", 8080, 1)}})
	d.publish(t, spec)
	d.beginBatch()
	if alive := checkFlowsAlive(t, d, flows); alive != flows {
		t.Fatalf("after adding a /24-persistent service %d of %d flows work", alive, flows)
	}
	// The new service's own connections work too: its replies reach their
	// owner through the second candidate.
	for i := range 50 {
		in := natFlow(i).with(func(p *pkt) { p.dst = "198.18.0.60"; p.sport = uint16(30000 + i) })
		if v, _ := d.deliverTo(i%4, in.frame(t), 0); v.action != actionTransmit {
			t.Fatalf("sticky SYN %d: %+v", i, v)
		}
		reply := in.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck)
		if v, _ := d.deliverTo((i+3)%4, reply.frame(t), 1); v.action != actionTransmit {
			t.Fatalf("sticky reply %d: %+v", i, v)
		}
	}
}

func TestReplyForNoConnectionStopsAfterTheLastCandidate(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 4, 1024)
	reply := natFlow(1).toReal("198.18.2.2", 8080, realMAC2).fromReal(ack)
	v, _ := d.deliverTo(0, reply.frame(t), 1)
	if v.action != actionDrop || v.reason != DropReplyNoConn {
		t.Fatalf("verdict %+v, want a reply_no_conn drop", v)
	}
}

func TestOwnerHashIsKeyed(t *testing.T) {
	a, b := owners{hash: conntrack.NewHasher(0)}, owners{hash: conntrack.NewHasher(0)}
	differ := 0
	for i := range 256 {
		c := [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 64, 15: byte(i)}
		if a.ownerOf(&c, 128, 8) != b.ownerOf(&c, 128, 8) {
			differ++
		}
	}
	// Two secrets agree on about one client in eight.
	if differ < 128 {
		t.Fatalf("two keys place %d of 256 clients differently; the hash ignores its key", differ)
	}
}
