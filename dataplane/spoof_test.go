package dataplane

import "testing"

// TestSpoofedRepliesAndSources: a packet forged with a real server's address
// and ports is not translated into the client's connection unless it comes
// the way the real server's packets come; no connection starts from the
// director's own addresses.
func TestSpoofedRepliesAndSources(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	reply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck)
	forgedMAC := reply.with(func(p *pkt) { p.srcMAC = clientMAC })
	fromVIP := natSyn.with(func(p *pkt) { p.src = "198.18.0.10"; p.sport = 41000 })
	back := natSyn.with(func(p *pkt) { p.flags = synAck }).reply()
	runSteps(t, d, []step{
		{name: "SYN", in: natSyn.frame(t), act: actionTransmit, arg: 1, want: natSyn.toReal("198.18.2.2", 8080, realMAC2).routed().frame(t)},
		{name: "the real server's address from the client side", port: 0, in: reply.frame(t), drop: "spoofed_reply"},
		{name: "the real server's address from another MAC on its segment", port: 1, in: forgedMAC.frame(t), drop: "spoofed_reply"},
		{name: "the real server's own reply", port: 1, in: reply.frame(t), act: actionTransmit, arg: 0, want: back.routed().frame(t)},
		{name: "a connection from a VIP", in: fromVIP.frame(t), drop: "spoofed_source"},
	})
}
