package dataplane

import "testing"

// TestFlowsThroughTheIndexMove: 30,000 NAT flows (two index slots each) take the worker's conn index past its
// small start, so it moves to full size while they arrive. Throughout, packets of flows that came before, in
// both directions, find their connections, wherever their slots are; after it, every flow does.
func TestFlowsThroughTheIndexMove(t *testing.T) {
	const flows = 30000
	d := newMemDataplane(t, testSpec(), 1, 1<<17)
	w := d.Workers[0]
	f := newBenchFlows(t, MethodNAT)
	before := w.conns.MemoryBytes()
	for i := range flows {
		f.establish(t, w, MethodNAT, i)
		if j := i * 7919 % (i + 1); i > 0 { // an earlier flow, spread over all of them
			f.send(t, w, f.ack, 0, stampClient, j)
			f.send(t, w, f.replyAck, 1, stampReplyClient, j)
		}
	}
	// The move frees the small start: less memory reserved once it is done.
	if after := w.conns.MemoryBytes(); after >= before {
		t.Fatalf("conn index did not move: %d bytes reserved before %d flows, %d after", before, flows, after)
	}
	for i := range flows {
		f.send(t, w, f.ack, 0, stampClient, i)
		f.send(t, w, f.replyAck, 1, stampReplyClient, i)
	}
	if n := w.conns.Len(); n != flows {
		t.Fatalf("%d conns for %d flows: a packet of an existing flow was taken for a new one", n, flows)
	}
}
