package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// TestHealthCheckTakesServerOut: stopping a real server's process takes it
// out of rotation within fall×interval+timeout, no new connection reaches it
// afterwards, a connection to another server is unaffected, restarting it
// brings it back after rise checks, and the notify hook fires exactly once
// per transition.
func TestHealthCheckTakesServerOut(t *testing.T) {
	const (
		interval = 300 * time.Millisecond
		timeout  = 200 * time.Millisecond
		fall     = 2
		rise     = 2
		slack    = 400 * time.Millisecond // scheduling and the table swap
	)
	bed := testbed.ForTest(t, "fhc")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	httpServers, _, err := topo.StartServers(80, 7)
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(t.TempDir(), "events")
	d := startDirector(t, topo, fmt.Sprintf(`interfaces: [eth1]
notify: {exec: 'echo "$FASTLVS_EVENT $FASTLVS_ADDR" >> %s'}
services:
  - {vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: rr, forward: nat,
     health_check: {type: http, interval: %s, timeout: %s, rise: %d, fall: %d},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}, {address: 198.18.2.13}]}
`, events, interval, timeout, rise, fall))
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 30)); len(got) != 3 {
		t.Fatalf("before the failure: %v, want all three servers", got)
	}
	long := dialUntil(t, topo, "198.18.0.10:80", "r1")

	// Stop r2's server process.
	stopped := time.Now()
	if err := httpServers[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "down 198.18.2.12:80", fall*interval+timeout+slack)
	took := time.Since(stopped)
	t.Logf("r2 out of rotation %v after its process stopped (bound %v)", took, fall*interval+timeout)

	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 60)); got["r2"] != 0 || got["r1"]+got["r3"] != 60 {
		t.Fatalf("after r2 went down: %v, want no connection to r2", got)
	}
	if r, err := long.get(); err != nil || r.server != "r1" {
		t.Fatalf("connection to r1 disturbed by r2's failure: %+v %v", r, err)
	}

	// fastlvsadm shows what ipvsadm under keepalived would: r2 is not listed;
	// --health lists it, down.
	adm := buildAdm(t, filepath.Join(filepath.Dir(d.configPath), "api.sock"))
	if out := adm.must("-L", "-n"); strings.Contains(out, "198.18.2.12") || !strings.Contains(out, "198.18.2.11:80") {
		t.Errorf("fastlvsadm -L -n with r2 down:\n%s", out)
	}
	if out := adm.must("-L", "-n", "--health"); !regexp.MustCompile(`198\.18\.2\.12:80 +Masq +1 .* down\n`).MatchString(out) ||
		!regexp.MustCompile(`198\.18\.2\.11:80 +Masq +1 .* up\n`).MatchString(out) {
		t.Errorf("fastlvsadm -L -n --health with r2 down:\n%s", out)
	}

	// Restart it: back after rise checks.
	restarted := time.Now()
	server, err := topo.Reals[1].ServeHTTP("r2", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	waitEvent(t, events, "up 198.18.2.12:80", rise*interval+timeout+slack)
	t.Logf("r2 back %v after restart (bound %v)", time.Since(restarted), rise*interval+timeout)
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 30)); got["r2"] == 0 {
		t.Fatalf("after r2 came back: %v, want r2 in rotation", got)
	}

	time.Sleep(2 * interval) // let any duplicate notification arrive
	text, _ := os.ReadFile(events)
	if got := strings.TrimSpace(string(text)); got != "down 198.18.2.12:80\nup 198.18.2.12:80" {
		t.Fatalf("notifications:\n%s\nwant exactly one down and one up for r2", got)
	}
}

// waitEvent waits until the notify hook has written line, or fails after
// within.
func waitEvent(tb testing.TB, path, line string, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		text, _ := os.ReadFile(path)
		if strings.Contains(string(text), line) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no %q notification within %v; events so far: %q", line, within, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
