package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"fastlvs/testbed"
)

// TestIPv6NAT balances TCP and UDP over IPv6 (2001:2::/48): neighbour
// discovery stays in the kernel, VIP traffic and the real servers' replies
// go through the workers, and the servers see the clients' own addresses.
func TestIPv6NAT(t *testing.T) {
	bed := testbed.ForTest(t, "fv6")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	const vip = vip6
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(topo.Director.Sysctl("net.ipv6.conf.all.forwarding", "1"))
	must(topo.Director.AddAddr("eth1", "2001:2:1::1/64"))
	must(topo.Director.AddAddr("eth1", "2001:2:2::1/64"))
	must(topo.Director.AddAddr("eth1", vip+"/128"))
	clientAddrs := []string{}
	for i, c := range topo.Clients {
		a := fmt.Sprintf("2001:2:1::%d", 11+i)
		must(c.AddAddr("eth0", a+"/64"))
		must(c.AddRoute("::/0", "2001:2:1::1"))
		clientAddrs = append(clientAddrs, a)
	}
	reals := ""
	for i, r := range topo.Reals {
		a := fmt.Sprintf("2001:2:2::%d", 11+i)
		must(r.AddAddr("eth0", a+"/64"))
		must(r.AddRoute("::/0", "2001:2:2::1"))
		reals += fmt.Sprintf("{address: '%s', weight: %d}, ", a, i+1)
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "[::]:80"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ServeUDPEcho(fmt.Sprintf("r%d", i+1), "[::]:7"); err != nil {
			t.Fatal(err)
		}
	}
	startDirector(t, topo, fmt.Sprintf(`interfaces: [eth1]
services:
  - {vip: '%[1]s', port: 80, protocol: tcp, scheduler: wrr, forward: nat, health_check: {type: none}, real_servers: [%[2]s]}
  - {vip: '%[1]s', port: 7, protocol: udp, scheduler: wrr, forward: nat, health_check: {type: none}, real_servers: [%[2]s]}
`, vip, reals))

	for _, proto := range []string{"tcp", "udp"} {
		rs := driveIPv6(t, topo, clientAddrs, proto, 120)
		checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
		for _, r := range rs {
			seen, err := netip.ParseAddrPort(r.client)
			if err != nil || !slices.Contains(clientAddrs, seen.Addr().String()) {
				t.Fatalf("real server %s saw %s, want one of %v", r.server, r.client, clientAddrs)
			}
		}
	}
}
