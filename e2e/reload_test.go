package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

func natConfig(reals ...string) string {
	return "interfaces: [eth1]\nservices:\n  - {vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: wrr, forward: nat, health_check: {type: none},\n" +
		"     real_servers: [" + strings.Join(reals, ", ") + "]}\n"
}

func real(i, weight int) string {
	return fmt.Sprintf("{address: %s, weight: %d}", testbed.RealAddr(i), weight)
}

// TestReloadAddsRealServer: a connection opened before a reload keeps
// exchanging data after it, new connections reach the added server, and an
// invalid file changes nothing.
func TestReloadAddsRealServer(t *testing.T) {
	bed := testbed.ForTest(t, "frld")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Reals: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	d := startDirector(t, topo, natConfig(real(1, 1), real(2, 1), real(3, 1)))
	long := dialKeepAlive(t, topo.Clients[0], "198.18.0.10:80")
	before, err := long.get()
	if err != nil {
		t.Fatal(err)
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 30)); got["r4"] != 0 {
		t.Fatalf("r4 answered before it was configured: %v", got)
	}

	if refused := d.reload(natConfig(real(1, 1), real(2, 1), real(3, 1), real(4, 3))); refused {
		t.Fatalf("valid reload refused:\n%s", d.output)
	}
	for i := range 5 {
		r, err := long.get()
		if err != nil {
			t.Fatalf("long-lived connection broke after reload (request %d): %v", i, err)
		}
		if r.server != before.server {
			t.Fatalf("long-lived connection moved from %s to %s", before.server, r.server)
		}
	}
	got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 60))
	if got["r4"] < 20 {
		t.Fatalf("new connections after reload: %v, want r4 (weight 3 of 6) to answer about half", got)
	}

	// An invalid file is refused and the table stays: r4 still answers.
	if refused := d.reload(natConfig(real(1, 1), "{address: 198.18.2.300, weight: 1}")); !refused {
		t.Fatalf("invalid reload accepted:\n%s", d.output)
	}
	if !strings.Contains(d.output.String(), "real_servers[1].address") {
		t.Errorf("refusal does not name the field:\n%s", d.output)
	}
	got = shares(drive(t, topo, "tcp", "198.18.0.10", 80, 60))
	if got["r4"] < 20 || len(got) != 4 {
		t.Fatalf("after a refused reload: %v, want the previous table (r1..r4, r4 about half)", got)
	}
	if _, err := long.get(); err != nil {
		t.Fatalf("long-lived connection broke after a refused reload: %v", err)
	}
}

// TestWeightZeroQuiesces: a real server set to weight 0 gets no new
// connections, and its established ones continue.
func TestWeightZeroQuiesces(t *testing.T) {
	bed := testbed.ForTest(t, "fwz")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	d := startDirector(t, topo, natConfig(real(1, 1), real(2, 1), real(3, 1)))
	long := dialUntil(t, topo, "198.18.0.10:80", "r1")
	if refused := d.reload(natConfig(real(1, 0), real(2, 1), real(3, 1))); refused {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 60)); got["r1"] != 0 || got["r2"]+got["r3"] != 60 {
		t.Fatalf("new connections after weight 0: %v, want none on r1", got)
	}
	for i := range 5 {
		r, err := long.get()
		if err != nil || r.server != "r1" {
			t.Fatalf("established connection to the quiesced server, request %d: %+v %v", i, r, err)
		}
	}
}

// TestKernelStillAnswers: only load-balanced traffic goes to user space; the
// director's kernel still answers ARP and ping while fastlvs runs.
func TestKernelStillAnswers(t *testing.T) {
	bed := testbed.ForTest(t, "fkrn")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	startDirector(t, topo, natConfig(real(1, 1)))
	client := topo.Clients[0]
	if _, err := client.Run("ip", "neigh", "flush", "all"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{testbed.ClientGateway, "198.18.0.10"} {
		out, err := client.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", addr)
		if err != nil {
			t.Fatalf("ping %s through a running director: %v\n%s", addr, err, out)
		}
	}
	out, err := client.Run("ip", "neigh", "show", testbed.ClientGateway)
	if err != nil || !strings.Contains(string(out), "lladdr") {
		t.Fatalf("ARP for the director did not resolve: %s %v", out, err)
	}
	mac, err := topo.Director.MAC("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), mac.String()) {
		t.Fatalf("ARP answer %q is not the director's MAC %s", out, mac)
	}
	// And the load-balanced service works at the same time.
	drive(t, topo, "tcp", "198.18.0.10", 80, 10)
}

// TestFileChangeReloads: with watching on, writing the file is enough.
func TestFileChangeReloads(t *testing.T) {
	bed := testbed.ForTest(t, "fwch")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	d := startWatchingDirector(t, topo, natConfig(real(1, 1)))
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 10)); got["r1"] != 10 {
		t.Fatalf("before the change: %v", got)
	}
	d.writeConfig(natConfig(real(2, 1)))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.output.String(), "trigger=\"file change\"") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after the file changed:\n%s", d.output)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 10)); got["r2"] != 10 {
		t.Fatalf("after the change: %v, want only r2", got)
	}
}

// TestDrainTimeout: a real server removed from a service with a drain
// timeout keeps its established connection until the timeout, then the
// connection's packets are dropped; new connections never reach it.
func TestDrainTimeout(t *testing.T) {
	bed := testbed.ForTest(t, "fdrn")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	withDrain := func(reals ...string) string {
		return strings.Replace(natConfig(reals...), "health_check: {type: none},", "health_check: {type: none}, drain_timeout: 2s,", 1)
	}
	d := startDirector(t, topo, withDrain(real(1, 1), real(2, 1)))
	long := dialUntil(t, topo, "198.18.0.10:80", "r1")
	if refused := d.reload(withDrain(real(2, 1))); refused {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	removed := time.Now()
	if r, err := long.get(); err != nil || r.server != "r1" {
		t.Fatalf("draining connection broke at once: %+v %v", r, err)
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 20)); got["r1"] != 0 {
		t.Fatalf("new connections reached the removed server: %v", got)
	}
	time.Sleep(time.Until(removed.Add(2500 * time.Millisecond)))
	if r, err := long.get(); err == nil {
		t.Fatalf("connection to the removed server still served after its drain timeout: %+v", r)
	}
	if !strings.Contains(d.output.String(), "real_server_removed=") {
		t.Fatalf("no real_server_removed drop counted:\n%s", lastLines(d.output.String(), 3))
	}
}

// TestRestartAfterCrash: a director killed with SIGKILL leaves no steering
// program behind that blocks the next start (its XDP link died with it), and
// the restarted director serves traffic at once.
func TestRestartAfterCrash(t *testing.T) {
	bed := testbed.ForTest(t, "fcr")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	first := startDirector(t, topo, natConfig(real(1, 1)))
	drive(t, topo, "tcp", "198.18.0.10", 80, 5)
	first.process.Stop(syscall.SIGKILL, 5*time.Second)

	out, err := topo.Director.Run("ip", "-d", "link", "show", "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "prog/xdp") {
		t.Fatalf("a steering program is still attached after the crash:\n%s", out)
	}
	startDirector(t, topo, natConfig(real(2, 1)))
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 10)); got["r2"] != 10 {
		t.Fatalf("after the restart: %v, want every connection on r2", got)
	}
}
