package e2e

import (
	"fmt"
	"slices"
	"testing"

	"fastlvs/testbed"
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
	bed := testbed.ForTest(t, "fecmp")
	host := func(name string) *testbed.Host {
		h, err := bed.Host(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(h *testbed.Host, args ...string) {
		t.Helper()
		if out, err := h.Run(args...); err != nil {
			t.Fatalf("%s: %v: %s", h.Name, err, out)
		}
	}
	lan, client, router := host("lan"), host("client"), host("router")
	must(bed.Bridge(lan, "br0"))
	plug := func(h *testbed.Host, port, addr string) {
		must(bed.Connect(h, "eth1", lan, port, testbed.LinkOptions{Queues: 1}))
		must(bed.Attach(lan, "br0", port))
		must(h.AddAddr("eth1", addr))
	}

	must(bed.Connect(client, "eth0", router, "eth0", testbed.LinkOptions{Queues: 1}))
	must(client.AddAddr("eth0", "198.18.1.11/24"))
	must(client.AddRoute("default", "198.18.1.1"))
	must(router.AddAddr("eth0", "198.18.1.1/24"))
	plug(router, "prouter", "198.18.2.1/24")
	must(router.Sysctl("net.ipv4.ip_forward", "1"))
	must(router.Sysctl("net.ipv4.fib_multipath_hash_policy", "1")) // hash ports too: flows spread over both
	directors := []*testbed.Host{host("dira"), host("dirb")}
	for i, d := range directors {
		plug(d, fmt.Sprintf("pdir%d", i), fmt.Sprintf("198.18.2.%d/24", 2+i))
	}
	run(router, "ip", "route", "add", vip+"/32", "nexthop", "via", "198.18.2.2", "nexthop", "via", "198.18.2.3")

	reals := ""
	for i := range 3 {
		r := host(fmt.Sprintf("r%d", i+1))
		addr := fmt.Sprintf("198.18.2.%d", 11+i)
		plug(r, fmt.Sprintf("preal%d", i), addr+"/24")
		must(r.AddRoute("default", "198.18.2.1"))
		run(r, "ip", "addr", "add", vip+"/32", "dev", "lo")
		for _, iface := range []string{"all", "eth1"} {
			must(r.Sysctl("net.ipv4.conf."+iface+".arp_ignore", "1"))
			must(r.Sysctl("net.ipv4.conf."+iface+".arp_announce", "2"))
		}
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "0.0.0.0:80"); err != nil {
			t.Fatal(err)
		}
		reals += fmt.Sprintf("{address: %s}, ", addr)
	}
	config := fmt.Sprintf(`interfaces: [eth1]
options: {sloppy_tcp: true}
services:
  - {vip: %s, port: 80, protocol: tcp, scheduler: mh, flags: [mh-port], forward: dr, health_check: {type: none},
     real_servers: [%s]}
`, vip, reals)
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
	run(router, "ip", "route", "replace", vip+"/32", "via", "198.18.2.3")
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
