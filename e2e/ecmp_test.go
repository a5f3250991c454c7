package e2e

import (
	"fmt"
	"slices"
	"testing"
)

// TestECMPFailover is ECMP scale-out: a router spreads the VIP over two
// directors that share nothing but their configuration (DR, Maglev, sloppy
// TCP). When the router moves every flow to one director, established
// connections carry on to the same real servers: the second director, seeing
// a flow's packet for the first time, picks the real server the first one
// did.
//
//	client ── router ══ lan bridge ══ director a, director b, r1 r2 r3 (VIP on lo)
func TestECMPFailover(t *testing.T) {
	const vip = "198.18.0.10"
	e := buildECMPBed(t, "fecmp", vip)
	client, router, directors := e.client, e.router, e.directors
	e.run(router, "ip", "route", "add", vip+"/32", "nexthop", "via", ecmpDirectorA, "nexthop", "via", ecmpDirectorB)
	config := "interfaces: [eth1]\noptions: {sloppy_tcp: true}\nservices:\n" + e.mhService(vip)
	a := startDirectorOn(t, directors[0], config)
	b := startDirectorOn(t, directors[1], config)

	// Open connections until both directors carry some.
	type flow struct {
		conn   *keepAlive
		server string
	}
	var flows []flow
	for range 24 {
		k := dialKeepAlive(t, client, vip+":80")
		r, err := k.get()
		if err != nil {
			t.Fatalf("request through the ECMP pair: %v\n%s\n%s", err, a.output, b.output)
		}
		flows = append(flows, flow{k, r.server})
	}
	if !newConnsSeen(a) || !newConnsSeen(b) {
		t.Fatalf("ECMP did not use both directors:\n%s\n%s", lastLines(a.output.String(), 1), lastLines(b.output.String(), 1))
	}

	// Every flow now goes to director b; each must keep its real server.
	// Visiting the flows in reverse order keeps a scheduler with per-director
	// state (rr) from matching the first director's choices by coincidence.
	e.run(router, "ip", "route", "replace", vip+"/32", "via", ecmpDirectorB)
	slices.Reverse(flows)
	for i, f := range flows {
		r, err := f.conn.get()
		if err != nil {
			t.Fatalf("flow %d broke when ECMP moved it: %v\n%s", i, err, lastLines(b.output.String(), 2))
		}
		if r.server != f.server {
			t.Fatalf("flow %d moved from %s to %s", i, f.server, r.server)
		}
	}
}

// newConnsSeen reports whether a director's stats line shows connections.
func newConnsSeen(d *director) bool {
	waitStatsLine(d)
	line := lastLines(d.output.String(), 1)
	var worker, cpu, conns int
	var rx, tx float64
	n, _ := fmt.Sscanf(line, "worker %d cpu %d: rx %f pps  tx %f pps  conns %d", &worker, &cpu, &rx, &tx, &conns)
	return n == 5 && conns > 0
}
