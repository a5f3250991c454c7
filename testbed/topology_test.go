package testbed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const testPrefix = "ftb"

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The director forwards with plain kernel routing (no fastlvs): a client reaches r1's own address and r1 sees
// the client's address, over HTTP and UDP.
func TestOneArmNATKernelForwarding(t *testing.T) {
	bed := ForTest(t, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Mode: ModeNAT, Clients: 2, Reals: 2})
	if err != nil {
		t.Fatal(err)
	}
	httpServers, udpServers, err := topo.StartServers(8080, 5353)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	c1 := topo.Clients[0]

	body, err := c1.HTTPGet(ctx, "http://198.18.2.11:8080/", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "r1 198.18.1.11:") || !strings.HasSuffix(body, "\n") {
		t.Fatalf("body %q, want r1 naming client 198.18.1.11", body)
	}
	if got := httpServers[0].Clients(); got["198.18.1.11"] != 1 || len(got) != 1 {
		t.Fatalf("r1 http clients %v, want one request from 198.18.1.11", got)
	}
	if n := httpServers[1].Requests(); n != 0 {
		t.Fatalf("r2 answered %d requests, want 0", n)
	}

	reply, err := topo.Clients[1].UDPRequest(ctx, "198.18.2.12:5353", "198.18.1.12", []byte("ping"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reply, "r2 198.18.1.12:") {
		t.Fatalf("udp reply %q, want r2 naming client 198.18.1.12", reply)
	}
	if got := udpServers[1].Clients(); got["198.18.1.12"] != 1 {
		t.Fatalf("r2 udp clients %v", got)
	}
}

func TestTwoArmNATKernelForwarding(t *testing.T) {
	bed := ForTest(t, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Mode: ModeNAT, TwoArm: true, Clients: 1, Reals: 1, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if bed.Lookup("lans") != topo.LANs[1] || bed.Lookup("nope") != nil {
		t.Fatal("Lookup does not find the hosts by short name")
	}
	if fmt.Sprint(topo.DirectorIfaces) != "[eth0 eth1]" {
		t.Fatalf("director ifaces %v", topo.DirectorIfaces)
	}
	if _, _, err := topo.StartServers(8080, 0); err != nil {
		t.Fatal(err)
	}
	body, err := topo.Clients[0].HTTPGet(testContext(t), "http://198.18.2.11:8080/", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "r1 198.18.1.11:") {
		t.Fatalf("body %q", body)
	}
	out, err := topo.Director.Run("ip", "-d", "link", "show", "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "numtxqueues 2 numrxqueues 2") {
		t.Fatalf("director eth1 lacks 2 queues:\n%s", out)
	}
}

// A DR real server holds the VIP on lo, ignores ARP for it and answers clients directly from the VIP. The
// director's MAC rewrite is emulated by pointing the client's neighbour entry for the VIP at r1's MAC.
func TestDRRealServers(t *testing.T) {
	bed := ForTest(t, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Mode: ModeDR, Clients: 1, Reals: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Reals {
		out, err := r.Run("ip", "-4", "-o", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "inet 198.18.0.10/32") {
			t.Fatalf("%s lo lacks the VIP:\n%s", r.Name, out)
		}
		for key, want := range map[string]string{"net.ipv4.conf.eth0.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"} {
			if got, err := r.SysctlValue(key); err != nil || got != want {
				t.Fatalf("%s %s = %q (%v), want %s", r.Name, key, got, err, want)
			}
		}
	}
	if _, _, err := topo.StartServers(8080, 5353); err != nil {
		t.Fatal(err)
	}
	r1MAC, err := topo.Reals[0].MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	c1 := topo.Clients[0]
	if err := c1.AddRouteDev("198.18.0.10", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := c1.AddNeighbor("eth0", "198.18.0.10", r1MAC); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	body, err := c1.HTTPGet(ctx, "http://198.18.0.10:8080/", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "r1 198.18.1.11:") {
		t.Fatalf("body %q", body)
	}
	reply, err := c1.UDPRequest(ctx, "198.18.0.10:5353", "", []byte("x"), 2*time.Second)
	if err != nil {
		t.Fatal(err) // a reply from 198.18.2.11 instead of the VIP would not reach the connected socket
	}
	if !strings.HasPrefix(reply, "r1 198.18.1.11:") {
		t.Fatalf("udp reply %q", reply)
	}
}

func TestTuneOffloads(t *testing.T) {
	bed := ForTest(t, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Clients: 1, Reals: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.TuneOffloads(true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host  *Host
		iface string
	}{{topo.Director, "eth1"}, {topo.LANs[0], "dir"}, {topo.LANs[0], "r1"}, {topo.Reals[0], "eth0"}} {
		out, err := c.host.Run("ethtool", "-k", c.iface)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"tcp-segmentation-offload: off", "generic-receive-offload: on"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s %s: no %q", c.host.Name, c.iface, want)
			}
		}
	}
	out, err := topo.Director.Run("cat", "/sys/class/net/eth1/threaded")
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("director eth1 threaded = %q (%v)", out, err)
	}
}

// Two-arm DR: the VIP lives on the reals' lo, replies go via the director, which must accept them although they
// come from an address local to it.
func TestTwoArmDRRouting(t *testing.T) {
	bed := ForTest(t, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Mode: ModeDR, TwoArm: true, Clients: 1, Reals: 1, VIPs: []string{"198.18.0.10", "198.18.0.11"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := topo.Reals[0].Run("ip", "-4", "-o", "addr", "show", "dev", "lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, vip := range topo.VIPs {
		if !strings.Contains(string(out), "inet "+vip+"/32") {
			t.Errorf("r1 lo lacks %s:\n%s", vip, out)
		}
	}
	route, err := topo.Reals[0].Run("ip", "-4", "route", "get", "198.18.1.11", "from", "198.18.0.10")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(route), "via 198.18.2.1 dev eth0") {
		t.Fatalf("r1 replies to clients not via the director: %s", route)
	}
	if got, err := topo.Director.SysctlValue("net.ipv4.conf.all.accept_local"); err != nil || got != "1" {
		t.Fatalf("director accept_local = %q (%v)", got, err)
	}
	dirAddrs, err := topo.Director.Run("ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dirAddrs), "inet 198.18.0.11/32") || !strings.Contains(string(dirAddrs), "inet 198.18.1.1/24") {
		t.Fatalf("director eth0 addresses:\n%s", dirAddrs)
	}
}
