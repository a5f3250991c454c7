package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// failoverConfig: one wlc NAT service over three real servers, checked by a
// TCP connect every 0.5 s, out after 2 failures.
func failoverConfig() string {
	return failoverConfigOf("{type: tcp, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}", real(1, 1), real(2, 1), real(3, 1))
}

func failoverConfigOf(check string, reals ...string) string {
	return `interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: wlc, forward: nat, health_check: ` + check + `,
     real_servers: [` + strings.Join(reals, ", ") + `]}
`
}

// failoverBed is a NAT topology with one client, three real servers (and
// more, serving but not configured, if reals > 3) and a director exporting
// metrics, and a metrics scraper.
func failoverBed(t *testing.T, prefix string, reals int) (*testbed.Topology, []*testbed.Server, *director, *http.Client) {
	t.Helper()
	bed := testbed.ForTest(t, prefix)
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Clients: 1, Reals: reals})
	if err != nil {
		t.Fatal(err)
	}
	servers, _, err := topo.StartServers(80, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := startDirector(t, topo, failoverConfig(), "--metrics", metricsAddr)
	return topo, servers, d, metricsScraper(topo)
}

// waitOutOfTable waits until the director's metrics list real server addr
// no more: the table in force has taken it out of rotation.
func waitOutOfTable(t *testing.T, scraper *http.Client, addr string, within time.Duration) time.Time {
	t.Helper()
	labels := fmt.Sprintf(`real=%q`, addr)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if scrape(t, scraper).count("fastlvs_real_server_weight", labels) == 0 {
			return time.Now()
		}
	}
	t.Fatalf("real server %s still in the table %v after it died", addr, within)
	return time.Time{}
}

// TestRealServerFailureUnderLoad: at 1.2k new connections a second with
// client ports reused every ~200 ms, a real server dies; once its health
// check has taken it out of the table, no new connection fails — not even
// one whose tuple the director last saw going to the dead server.
func TestRealServerFailureUnderLoad(t *testing.T) {
	topo, servers, _, scraper := failoverBed(t, "frf", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	load := startChurn(ctx, t, topo.Clients[0], "198.18.0.10:80", 1200, 24, 10*time.Second)

	time.Sleep(3 * time.Second)
	killed := time.Now()
	if err := servers[1].Close(); err != nil {
		t.Fatal(err)
	}
	removed := waitOutOfTable(t, scraper, testbed.RealAddr(2), 3*time.Second)
	outcomes := load.wait()

	failedAll, total, _ := failuresSince(outcomes, outcomes[0].at)
	failedDown, _, _ := failuresSince(outcomes, killed)
	failedAfter, totalAfter, first := failuresSince(outcomes, removed)
	t.Logf("%d connections in %v (%.0f/s); %d failed in all (%s), %d between the kill and the removal (%v), %d of %d after",
		total, outcomes[len(outcomes)-1].at.Sub(outcomes[0].at).Round(time.Millisecond),
		float64(total)/outcomes[len(outcomes)-1].at.Sub(outcomes[0].at).Seconds(),
		failedAll, describeFailures(outcomes, outcomes[0].at), failedDown-failedAfter, removed.Sub(killed).Round(time.Millisecond), failedAfter, totalAfter)
	if refused, timedOut := refusedSince(outcomes, removed); refused > 0 || timedOut*1000 > totalAfter {
		t.Fatalf("%d of %d new connections failed after the dead server left the table (%s); first: %v",
			failedAfter, totalAfter, describeFailures(outcomes, removed), first)
	}
	if rate := float64(totalAfter) / time.Since(removed).Seconds(); totalAfter < 3000 {
		t.Fatalf("only %d connections after the removal (%.0f/s): the load was too light to show anything", totalAfter, rate)
	}
}

// TestReloadWhileServerDead is the soak of issue 8 in short: under the same
// churn, a real server dies and is taken out, then the configuration is
// reloaded (unchanged) every 2 s: no new connection fails after the
// removal.
func TestReloadWhileServerDead(t *testing.T) {
	topo, servers, d, scraper := failoverBed(t, "frr", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	load := startChurn(ctx, t, topo.Clients[0], "198.18.0.10:80", 1200, 24, 14*time.Second)

	time.Sleep(2 * time.Second)
	if err := servers[1].Close(); err != nil {
		t.Fatal(err)
	}
	removed := waitOutOfTable(t, scraper, testbed.RealAddr(2), 3*time.Second)
	var reloads []time.Time
	for range 5 {
		time.Sleep(2 * time.Second)
		reloads = append(reloads, time.Now())
		if d.reload(failoverConfig()) {
			t.Fatalf("reload refused:\n%s", d.output)
		}
	}
	outcomes := load.wait()
	failed, total, first := failuresSince(outcomes, removed)
	for i, at := range reloads {
		end := at.Add(2 * time.Second)
		n, m := 0, 0
		for _, o := range outcomes {
			if !o.at.Before(at) && o.at.Before(end) {
				m++
				if o.err != nil {
					n++
				}
			}
		}
		t.Logf("reload %d: %d of %d connections in the 2 s after it failed", i+1, n, m)
	}
	if refused, timedOut := refusedSince(outcomes, removed); refused > 0 || timedOut*1000 > total {
		t.Fatalf("%d of %d new connections failed after the dead server left the table (%s); first: %v",
			failed, total, describeFailures(outcomes, removed), first)
	}
}

// TestRemovedWhileDownComesBack: a real server that its health check took
// out and that the operator then removed from the file, repaired and put
// back, is checked afresh and returns to rotation. (The check's "down"
// verdict used to outlive the check: the server stayed out for good while
// its new check, starting up, never reported a transition.)
func TestRemovedWhileDownComesBack(t *testing.T) {
	topo, servers, d, scraper := failoverBed(t, "frb", 3)
	if err := servers[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitOutOfTable(t, scraper, testbed.RealAddr(2), 3*time.Second)

	without := strings.Replace(failoverConfig(), ", "+real(2, 1), "", 1)
	if d.reload(without) {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	repaired, err := topo.Reals[1].ServeHTTP("r2", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repaired.Close() })
	if d.reload(failoverConfig()) {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	labels := fmt.Sprintf(`real=%q`, testbed.RealAddr(2))
	for deadline := time.Now().Add(3 * time.Second); scrape(t, scraper).count("fastlvs_real_server_weight", labels) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("r2, repaired and back in the file, still out of the table 3 s later:\n%s", lastLines(d.output.String(), 8))
		}
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 30)); got["r2"] == 0 {
		t.Fatalf("r2 back in the table but answers nothing: %v", got)
	}
}

// TestReloadAddsDeadServer: under the same churn, a reload adds a real
// server that is down, checked with the default timing (every 2 s, out
// after 3 failures). A new server starts up, and with wlc — it has no
// connections — it would get nearly every new one for fall×interval; it
// must be out as soon as its first check fails.
func TestReloadAddsDeadServer(t *testing.T) {
	topo, servers, d, _ := failoverBed(t, "fra", 4)
	if err := servers[3].Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	load := startChurn(ctx, t, topo.Clients[0], "198.18.0.10:80", 1200, 24, 6*time.Second)
	// The director knows r4's MAC already, as it would a server it served
	// before: nothing delays its first connections.
	if _, err := topo.Director.Run("ping", "-c", "1", "-W", "1", testbed.RealAddr(4)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	reloaded := time.Now()
	if d.reload(failoverConfigOf("{type: tcp}", real(1, 1), real(2, 1), real(3, 1), real(4, 1))) {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	outcomes := load.wait()
	failed, total, first := failuresSince(outcomes, outcomes[0].at)
	after, totalAfter, _ := failuresSince(outcomes, reloaded)
	t.Logf("%d of %d connections failed, %d of the %d after the reload that added the dead r4", failed, total, after, totalAfter)
	// The first check answers within milliseconds (connection refused);
	// until its verdict is in the table, a few connections may reach r4.
	if after*100 > totalAfter*2 {
		t.Fatalf("%d of %d connections failed after a reload added a dead server (%s); first: %v",
			after, totalAfter, describeFailures(outcomes, reloaded), first)
	}
}
