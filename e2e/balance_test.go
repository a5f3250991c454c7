package e2e

import (
	"fmt"
	"testing"

	"fastlvs/testbed"
)

// balanceConfig has, for one forwarding method, a wrr service on the first
// VIP and a wlc service on the second, each for TCP (HTTP on 80) and UDP
// (echo on 7), with real servers weighted 1, 2, 3.
func balanceConfig(forward string, vips []string) string {
	cfg := "interfaces: [eth1]\nservices:\n"
	for i, sched := range []string{"wrr", "wlc"} {
		for _, svc := range []struct {
			proto string
			port  int
		}{{"tcp", 80}, {"udp", 7}} {
			cfg += fmt.Sprintf("  - {vip: %s, port: %d, protocol: %s, scheduler: %s, forward: %s, health_check: {type: none},\n"+
				"     real_servers: [{address: 198.18.2.11, weight: 1}, {address: 198.18.2.12, weight: 2}, {address: 198.18.2.13, weight: 3}]}\n",
				vips[i], svc.port, svc.proto, sched, forward)
		}
	}
	return cfg
}

// TestBalance sends 600 requests, each a new connection, from two client
// addresses to every (method, protocol, scheduler) service and checks every
// response, the weight shares and the client addresses the servers saw.
func TestBalance(t *testing.T) {
	for _, method := range []struct {
		forward string
		mode    testbed.Mode
	}{{"dr", testbed.ModeDR}, {"nat", testbed.ModeNAT}} {
		t.Run(method.forward, func(t *testing.T) {
			vips := []string{"198.18.0.10", "198.18.0.11"}
			bed := testbed.ForTest(t, "fbal")
			topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: method.mode, VIPs: vips})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := topo.StartServers(80, 7); err != nil {
				t.Fatal(err)
			}
			startDirector(t, topo, balanceConfig(method.forward, vips))
			weights := map[string]int{"r1": 1, "r2": 2, "r3": 3}
			for i, sched := range []string{"wrr", "wlc"} {
				for _, proto := range []string{"tcp", "udp"} {
					t.Run(sched+"/"+proto, func(t *testing.T) {
						port := 80
						if proto == "udp" {
							port = 7
						}
						rs := drive(t, topo, proto, vips[i], port, 600)
						if len(rs) != 600 {
							t.Fatalf("%d responses, want 600", len(rs))
						}
						checkWeightShares(t, rs, weights, 5)
						checkClientAddresses(t, topo, rs)
					})
				}
			}
		})
	}
}
