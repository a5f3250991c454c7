package dataplane

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

// twoRealSpec is one NAT TCP and one NAT UDP service, each with two real
// servers taken round robin: .2 first, then .3.
func twoRealSpec(reals ...string) TableSpec {
	var tcp, udp []RealSpec
	for _, r := range reals {
		tcp = append(tcp, realAt(r, 8080, 1))
		udp = append(udp, realAt(r, 5353, 1))
	}
	return TableSpec{Services: []ServiceSpec{
		{Name: "nat", VIP: addr("198.18.0.20"), Port: 80, Proto: ProtoTCP, Scheduler: "rr", Method: MethodNAT, Reals: tcp},
		{Name: "nat-udp", VIP: addr("198.18.0.20"), Port: 53, Proto: ProtoUDP, Scheduler: "rr", Method: MethodNAT, Reals: udp},
	}}
}

// realOfFrame is where a client's packet went: the destination address of
// the rewritten frame.
func realOfFrame(t *testing.T, w *Worker, frame []byte) string {
	t.Helper()
	if v := w.processFrame(frame, 0); v.action != actionTransmit {
		t.Fatalf("dropped: %+v %v", v, dropCounts(w))
	}
	var p header.Packet
	p.Parse(frame)
	return netip.AddrFrom16(p.Dst).Unmap().String()
}

func TestSYNOnAClosedConnectionIsScheduledAfresh(t *testing.T) {
	d := newMemDataplane(t, twoRealSpec("198.18.2.2", "198.18.2.3"), 1, 1024)
	w := d.Workers[0]
	first := realOfFrame(t, w, natSyn.frame(t))
	toReal := natSyn.toReal(first, 8080, realMAC2)
	// Handshake and close: SYN/ACK, ACK, FIN both ways, last ACK.
	w.processFrame(toReal.fromReal(synAck).frame(t), 1)
	w.processFrame(natSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 0)
	w.processFrame(natSyn.with(func(p *pkt) { p.flags = finAck }).frame(t), 0)
	w.processFrame(toReal.fromReal(finAck).frame(t), 1)
	w.processFrame(natSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 0)
	if again := realOfFrame(t, w, natSyn.frame(t)); again == first {
		t.Fatalf("the SYN reusing a closed connection's tuple went to %s again, want the next real server", again)
	}
	w.publish()
	if n := w.Stats.Count(CountRescheduled); n != 1 {
		t.Fatalf("rescheduled %d, want 1", n)
	}
}

func TestRetransmittedSYNFollowsItsServerWhileItLives(t *testing.T) {
	d := newMemDataplane(t, twoRealSpec("198.18.2.2", "198.18.2.3"), 1, 1024)
	w := d.Workers[0]
	first := realOfFrame(t, w, natSyn.frame(t))
	if again := realOfFrame(t, w, natSyn.frame(t)); again != first {
		t.Fatalf("a retransmitted SYN went to %s, not %s", again, first)
	}
	// The server leaves rotation (its health check failed): the next
	// retransmission is scheduled afresh.
	d.publish(t, twoRealSpec(otherReal(first)))
	d.beginBatch()
	if again := realOfFrame(t, w, natSyn.frame(t)); again == first {
		t.Fatalf("a SYN retransmitted after %s left went to it again", first)
	}
}

func TestSYNToAQuiescedServerIsScheduledAfresh(t *testing.T) {
	d := newMemDataplane(t, twoRealSpec("198.18.2.2", "198.18.2.3"), 1, 1024)
	w := d.Workers[0]
	first := realOfFrame(t, w, natSyn.frame(t))
	spec := twoRealSpec("198.18.2.2", "198.18.2.3")
	for i := range spec.Services[0].Reals {
		if spec.Services[0].Reals[i].Addr == addr(first) {
			spec.Services[0].Reals[i].Weight = 0
		}
	}
	d.publish(t, spec)
	d.beginBatch()
	if again := realOfFrame(t, w, natSyn.frame(t)); again == first {
		t.Fatalf("a SYN went to the quiesced %s", first)
	}
}

func TestUDPFlowLeavesARemovedServer(t *testing.T) {
	d := newMemDataplane(t, twoRealSpec("198.18.2.2", "198.18.2.3"), 1, 1024)
	w := d.Workers[0]
	first := realOfFrame(t, w, natUDP.frame(t))
	if again := realOfFrame(t, w, natUDP.frame(t)); again != first {
		t.Fatalf("a UDP flow moved from %s to %s with its server alive", first, again)
	}
	d.publish(t, twoRealSpec(otherReal(first)))
	d.beginBatch()
	if again := realOfFrame(t, w, natUDP.frame(t)); again == first {
		t.Fatalf("a UDP flow stayed on the removed %s", first)
	}
}

func otherReal(a string) string {
	if a == "198.18.2.2" {
		return "198.18.2.3"
	}
	return "198.18.2.2"
}

// TestDRRefusesARealServerBehindAGateway: direct routing keeps the VIP as
// destination, so a real server reached through a router cannot be served
// (the router would route the packet back to the VIP's director).
func TestDRRefusesARealServerBehindAGateway(t *testing.T) {
	spec := TableSpec{Services: []ServiceSpec{{Name: "dr-far", VIP: addr("198.18.0.10"), Port: 80, Proto: ProtoTCP,
		Scheduler: "rr", Method: MethodDR, Reals: []RealSpec{realAt("198.18.64.9", 80, 1)}}}}
	d := newMemDataplane(t, spec, 1, 64)
	runSteps(t, d, []step{{name: "SYN to a DR real server behind the router", in: drSyn.frame(t), drop: "dr_real_not_on_link"}})
}
