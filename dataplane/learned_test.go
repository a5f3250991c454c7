package dataplane

import (
	"bytes"
	"testing"

	"fastlvs/header"
)

// TestReplyToUnresolvedClientUsesLearnedHop: the first reply to a client the
// next-hop snapshot does not know yet goes to the MAC its SYN came from (not
// dropped), and the kernel is still asked to resolve the client.
func TestReplyToUnresolvedClientUsesLearnedHop(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	newClientMAC := header.MAC{0x02, 0xc1, 0, 0, 0, 0x77}
	syn := natSyn.with(func(p *pkt) { p.src = "198.18.1.77"; p.srcMAC = newClientMAC }) // on-link, no neighbour entry
	if v := w.processFrame(syn.frame(t), 0); v.action != actionTransmit || v.port != 1 {
		t.Fatalf("SYN: verdict %+v drops %v", v, dropCounts(w))
	}
	synAck := syn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck).frame(t)
	if v := w.processFrame(synAck, 1); v.action != actionTransmit || v.port != 0 {
		t.Fatalf("reply to a client unknown to the snapshot: verdict %+v drops %v", v, dropCounts(w))
	}
	eth := header.Ethernet(synAck)
	if dst, src := eth.DestinationAddress(), eth.SourceAddress(); !bytes.Equal(dst[:], newClientMAC[:]) || src != portMAC0 {
		t.Fatalf("reply sent %v -> %v, want port 0's MAC -> the MAC the SYN came from", src, dst)
	}
	var want [16]byte
	if !d.Wants[0].Pop(&want) || want != addr("198.18.1.77").As16() {
		t.Fatal("the kernel was not asked to resolve the client")
	}
	w.publish()
	if w.Stats.Count(CountLearnedHops) != 1 || dropTotal(w) != 0 {
		t.Fatalf("learned hops %d, drops %v; want 1 and none", w.Stats.Count(CountLearnedHops), dropCounts(w))
	}
}

// TestNoLearningFromTheWrongSide: a client packet that comes in by a port
// its address does not route through teaches nothing, so a forged source
// cannot steer replies to its sender.
func TestNoLearningFromTheWrongSide(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	w := d.Workers[0]
	forger := header.MAC{0x02, 0xee, 0, 0, 0, 0x01}
	syn := natSyn.with(func(p *pkt) { p.src = "198.18.1.77"; p.srcMAC = forger }) // on-link via port 0, sent on port 1
	if v := w.processFrame(syn.frame(t), 1); v.action != actionTransmit {
		t.Fatalf("SYN: verdict %+v drops %v", v, dropCounts(w))
	}
	synAck := syn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck).frame(t)
	if v := w.processFrame(synAck, 1); v.action != actionDrop || v.reason != DropNeighborUnresolved {
		t.Fatalf("reply to a client learned from the wrong side: verdict %+v, want neighbor_unresolved", v)
	}
}
