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
	if v := strict.Workers[0].processFrame(midFlow.frame(t), 0); v.action != actionDrop || dropCounts(strict.Workers[0])["tcp_not_syn"] != 1 {
		t.Fatalf("without sloppy_tcp: verdict %+v drops %v, want tcp_not_syn", v, dropCounts(strict.Workers[0]))
	}

	spec := testSpec()
	spec.SloppyTCP = true
	sloppy := newMemDataplane(t, spec, 1, 1024)
	w := sloppy.Workers[0]
	if v := w.processFrame(midFlow.frame(t), 0); v.action != actionTransmit || v.port != 1 {
		t.Fatalf("with sloppy_tcp a mid-flow ACK must start a connection: verdict %+v drops %v", v, dropCounts(w))
	}
	if v := w.processFrame(reset.frame(t), 0); v.action != actionDrop || dropCounts(w)["tcp_not_syn"] != 1 {
		t.Fatalf("a reset must never start a connection: verdict %+v drops %v", v, dropCounts(w))
	}
}
