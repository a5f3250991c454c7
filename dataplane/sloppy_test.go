package dataplane

import (
	"testing"
)

// TestSloppyTCP: without sloppy_tcp a mid-flow packet with no connection is
// dropped (tcp_not_syn); with it, any packet but a reset starts one, and a
// deterministic scheduler sends it where the flow's first director did.
func TestSloppyTCP(t *testing.T) {
	midFlow := drSyn.with(func(p *pkt) { p.flags = pshAck; p.sport = 41000 })
	reset := drSyn.with(func(p *pkt) { p.flags = rst; p.sport = 41001 })

	strict := newMemDataplane(t, testSpec(), 1, 1024)
	if act, _ := strict.Workers[0].process(midFlow.frame(t), 0); act != actionDrop || dropCounts(strict.Workers[0])["tcp_not_syn"] != 1 {
		t.Fatalf("without sloppy_tcp: action %v drops %v, want tcp_not_syn", act, dropCounts(strict.Workers[0]))
	}

	spec := testSpec()
	spec.SloppyTCP = true
	sloppy := newMemDataplane(t, spec, 1, 1024)
	w := sloppy.Workers[0]
	if act, port := w.process(midFlow.frame(t), 0); act != actionTransmit || port != 1 {
		t.Fatalf("with sloppy_tcp a mid-flow ACK must start a connection: action %v port %d drops %v", act, port, dropCounts(w))
	}
	if act, _ := w.process(reset.frame(t), 0); act != actionDrop || dropCounts(w)["tcp_not_syn"] != 1 {
		t.Fatalf("a reset must never start a connection: action %v drops %v", act, dropCounts(w))
	}
}
