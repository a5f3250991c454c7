package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// TestTwoWorkersHandOff runs two workers on a two-queue interface: the two
// directions of a NAT connection may arrive on different queues, and the
// worker that does not own a connection hands the frame to the one that does.
func TestTwoWorkersHandOff(t *testing.T) {
	bed := testbed.ForTest(t, "fmq")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	d := startDirector(t, topo, natConfig(real(1, 1), real(2, 2), real(3, 3)))
	rs := drive(t, topo, "tcp", "198.18.0.10", 80, 300)
	checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
	time.Sleep(1100 * time.Millisecond) // one more stats line
	last := lastLines(d.output.String(), 2)
	if !strings.Contains(last, "worker 1 cpu") {
		t.Fatalf("expected two workers:\n%s", d.output)
	}
	// With two clients hashed to owners and replies spread by the veth's
	// queue choice, some frames must have crossed between workers.
	if !regexp.MustCompile(`handoff [1-9][0-9]*/`).MatchString(last) {
		t.Fatalf("no frame was handed between workers:\n%s", last)
	}
}

// TestTwoArmNAT: clients and real servers on separate interfaces; every
// packet leaves by the other interface than it came in on, from the UMEM
// frame it arrived in (the two ports' sockets share one). veth has no
// zero-copy AF_XDP: af_xdp_bind: zerocopy is refused at start with the
// reason, and auto binds in copy mode.
func TestTwoArmNAT(t *testing.T) {
	bed := testbed.ForTest(t, "f2a")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, TwoArm: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	services := "services:\n" +
		"  - {vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: wrr, forward: nat, health_check: {type: none},\n" +
		"     real_servers: [{address: 198.18.2.11, weight: 1}, {address: 198.18.2.12, weight: 2}, {address: 198.18.2.13, weight: 3}]}\n" +
		"  - {vip: 198.18.0.10, port: 7, protocol: udp, scheduler: wlc, forward: nat, health_check: {type: none},\n" +
		"     real_servers: [{address: 198.18.2.11, weight: 1}, {address: 198.18.2.12, weight: 2}, {address: 198.18.2.13, weight: 3}]}\n"
	refused := startFailingDirector(t, topo, "interfaces: [eth0, eth1]\naf_xdp_bind: zerocopy\n"+services)
	if !strings.Contains(refused, "no zero-copy AF_XDP") {
		t.Fatalf("af_xdp_bind: zerocopy on veth did not fail for want of zero-copy:\n%s", refused)
	}
	d := startDirector(t, topo, "interfaces: [eth0, eth1]\naf_xdp_bind: auto\n"+services)
	if n := strings.Count(d.output.String(), "af_xdp=copy"); n != 2 {
		t.Fatalf("%d ports report copy mode, want both:\n%s", n, d.output)
	}
	if strings.Contains(d.output.String(), "cannot share") {
		t.Fatalf("the second port did not share the first's UMEM:\n%s", d.output)
	}
	weights := map[string]int{"r1": 1, "r2": 2, "r3": 3}
	for _, proto := range []string{"tcp", "udp"} {
		port := 80
		if proto == "udp" {
			port = 7
		}
		rs := drive(t, topo, proto, "198.18.0.10", port, 300)
		checkWeightShares(t, rs, weights, 6)
		checkClientAddresses(t, topo, rs)
	}
}
