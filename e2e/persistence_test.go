package e2e

import (
	"context"
	"testing"
	"time"

	"fastlvs/testbed"
)

// TestPersistence: with persistence and a /24 netmask, every connection of a
// client — and of its /24 neighbours — reaches one real server; a client in
// another /24 gets its own template (with rr, the next server).
func TestPersistence(t *testing.T) {
	bed := testbed.ForTest(t, "fper")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	// A second client /24: 198.18.4.0/24 on the same segment.
	const otherNet = "198.18.4.12"
	if err := topo.Director.AddAddr("eth1", "198.18.4.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Clients[1].AddAddr("eth0", otherNet+"/24"); err != nil {
		t.Fatal(err)
	}
	startDirector(t, topo, `interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: rr, forward: nat, persistence: 300s,
     persistence_netmask: 255.255.255.0, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}, {address: 198.18.2.13}]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	serversOf := func(client *testbed.Host, src string, n int) map[string]int {
		got := map[string]int{}
		for range n {
			body, err := client.HTTPGet(ctx, "http://198.18.0.10/", src)
			if err != nil {
				t.Fatalf("request from %s: %v", src, err)
			}
			r, err := parseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			got[r.server]++
		}
		return got
	}
	first := serversOf(topo.Clients[0], topo.ClientAddrs[0], 50)
	if len(first) != 1 {
		t.Fatalf("50 connections from one client reached %v, want one server", first)
	}
	neighbour := serversOf(topo.Clients[1], topo.ClientAddrs[1], 20)
	if len(neighbour) != 1 || !sameKeys(first, neighbour) {
		t.Fatalf("a client in the same /24 reached %v, want the first client's %v", neighbour, first)
	}
	other := serversOf(topo.Clients[1], otherNet, 20)
	if len(other) != 1 {
		t.Fatalf("20 connections from another /24 reached %v, want one server", other)
	}
	if sameKeys(first, other) {
		t.Fatalf("another /24 reached the same server %v; rr should have given its template the next one", other)
	}
}

func sameKeys(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
