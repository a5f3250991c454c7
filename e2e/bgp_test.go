package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"fastlvs/control/api"
	"fastlvs/testbed"
)

// BIRD's and the directors' autonomous systems.
const (
	routerASN   = 64512
	directorASN = 64513
)

// startBird runs BIRD 2 in the router's namespace, peering with every
// director and installing the routes it learns into the router's kernel,
// equal ones merged into one multipath route. Config, log and control
// socket live in a temporary directory; BIRD is stopped by its PID.
func startBird(t *testing.T, router *testbed.Host, routerAddr string, directors ...string) *testbed.Process {
	t.Helper()
	dir := t.TempDir()
	var config strings.Builder
	fmt.Fprintf(&config, `router id %s;
log stderr all;
protocol device {}
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
template bgp director {
	local %s as %d;
	hold time 9;
	connect retry time 1;
	ipv4 { import all; export none; };
}
`, routerAddr, routerAddr, routerASN)
	for i, addr := range directors {
		fmt.Fprintf(&config, "protocol bgp director%d from director { neighbor %s as %d; }\n", i, addr, directorASN)
	}
	configPath := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(configPath, []byte(config.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bird, err := testbed.StartProcess(router.Command("bird", "-f", "-c", configPath, "-s", filepath.Join(dir, "bird.ctl")))
	if err != nil {
		t.Fatalf("start bird (is the bird2 package installed?): %v", err)
	}
	t.Cleanup(func() {
		bird.Stop(syscall.SIGTERM, 3*time.Second)
		if t.Failed() {
			t.Logf("bird output:\n%s", bird.Tail(40))
		}
	})
	if err := bird.WaitFor("Started", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return bird
}

// bgpDirectorConfig is a director's config announcing its VIPs to the
// router; self is its own lan address (its router id).
func bgpDirectorConfig(self, services string) string {
	return fmt.Sprintf(`interfaces: [eth1]
options: {sloppy_tcp: true}
drain_grace: 3s
bgp:
  asn: %d
  router_id: %s
  peers: [{address: %s, asn: %d, hold_time: 9s}]
services:
%s`, directorASN, self, ecmpRouterAddr, routerASN, services)
}

var viaPattern = regexp.MustCompile(`via (\S+)`)

// nextHops lists the router's kernel next hops for vip/32, sorted.
func (e *ecmpBed) nextHops(vip string) []string {
	e.t.Helper()
	out := e.run(e.router, "ip", "route", "show", vip+"/32")
	var hops []string
	for _, m := range viaPattern.FindAllStringSubmatch(out, -1) {
		hops = append(hops, m[1])
	}
	slices.Sort(hops)
	return hops
}

// waitNextHops waits until the router routes vip over exactly want and
// returns how long that took.
func (e *ecmpBed) waitNextHops(vip string, want []string, timeout time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		got := e.nextHops(vip)
		if slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			e.t.Fatalf("router routes %s via %v, want %v (after %s):\n%s", vip, got, want, timeout, e.run(e.router, "ip", "route"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *director) apiAddress() string {
	return "unix://" + filepath.Join(filepath.Dir(d.configPath), "api.sock")
}

func (d *director) apiClient() *api.Client { return api.NewClient(d.apiAddress(), "") }

// TestBGPAnnouncesUsableVIPs: two directors announce their VIPs to BIRD,
// which installs one route with both directors as next hops; a VIP whose
// real servers are all out of rotation is withdrawn within 2 s; a director
// that gets SIGTERM withdraws its routes while it still forwards.
func TestBGPAnnouncesUsableVIPs(t *testing.T) {
	const web, api2 = "198.18.0.10", "198.18.0.20"
	e := buildECMPBed(t, "fbgp", web, api2)
	startBird(t, e.router, ecmpRouterAddr, ecmpDirectorA, ecmpDirectorB)
	services := e.mhService(web) + e.mhService(api2)
	a := startDirectorOn(t, e.directors[0], bgpDirectorConfig(ecmpDirectorA, services))
	b := startDirectorOn(t, e.directors[1], bgpDirectorConfig(ecmpDirectorB, services))
	both := []string{ecmpDirectorA, ecmpDirectorB}
	e.waitNextHops(web, both, 20*time.Second)
	e.waitNextHops(api2, both, 5*time.Second)

	// Visibility: the API, the CLI and the metrics agree.
	status, err := a.apiClient().BGP()
	if err != nil {
		t.Fatal(err)
	}
	if len(status.Sessions) != 1 || !status.Sessions[0].Up || len(status.Announced) != 2 {
		t.Errorf("GET /v1/bgp: %+v", status)
	}
	cli, err := exec.Command(binary, "bgp", "--api", a.apiAddress()).CombinedOutput()
	if err != nil || !regexp.MustCompile(`198\.18\.2\.1\s+64512\s+established`).Match(cli) || !strings.Contains(string(cli), "announced prefixes: 2") {
		t.Errorf("fastlvs bgp: %v\n%s", err, cli)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	metrics, err := e.directors[0].HTTPGet(ctx, "http://127.0.0.1:9120/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`fastlvs_bgp_session_up{peer="198.18.2.1"} 1`, "fastlvs_bgp_announced_prefixes 2"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, vip := range []string{web, api2} {
		if _, err := e.client.HTTPGet(ctx, "http://"+vip+"/", ""); err != nil {
			t.Fatalf("GET %s through the announced route: %v", vip, err)
		}
	}

	// Every real server of api2's service out of rotation (weight 0) on both
	// directors: the router drops that VIP, and only that one, within 2 s.
	key := api.ServiceKey{Protocol: "tcp", Address: netip.MustParseAddr(api2), Port: 80}
	for _, d := range []*director{a, b} {
		for i := range 3 {
			rs := api.RealServer{Address: netip.MustParseAddr(fmt.Sprintf("198.18.2.%d", 11+i)), Port: 80, Forward: "dr", Weight: 0}
			if err := d.apiClient().EditRealServer(key, rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := e.waitNextHops(api2, nil, 2*time.Second)
	t.Logf("withdrawn %s after %s", api2, took)
	if got := e.nextHops(web); !slices.Equal(got, both) {
		t.Fatalf("%s lost a next hop when %s was withdrawn: %v", web, api2, got)
	}

	// SIGTERM on director a: its route goes first, its dataplane keeps
	// running through drain_grace, then it stops.
	if err := a.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took = e.waitNextHops(web, []string{ecmpDirectorB}, 2*time.Second)
	select {
	case <-a.process.Exited():
		t.Fatalf("director a stopped before the router withdrew its route:\n%s", a.output)
	default:
	}
	t.Logf("director a withdrawn %s after SIGTERM", took)
	if _, err := e.client.HTTPGet(ctx, "http://"+web+"/", ""); err != nil {
		t.Fatalf("GET %s through director b while a drains: %v", web, err)
	}
	select {
	case <-a.process.Exited():
	case <-time.After(6 * time.Second):
		t.Fatalf("director a did not stop after drain_grace:\n%s", lastLines(a.output.String(), 5))
	}
	out := a.output.String()
	drainAt, stopAt := strings.Index(out, "draining"), strings.Index(out, "fastlvs stopped")
	if drainAt < 0 || stopAt < drainAt || !strings.Contains(out[drainAt:stopAt], "worker 0 cpu") {
		t.Fatalf("director a's log should show it draining, forwarding on (a stats line) and then stopping:\n%s", out)
	}
}

// TestBGPRollingRestart restarts both directors of an ECMP pair one after
// the other while 300 keep-alive connections spread over both keep sending
// requests: each director drains (withdraws, forwards on, stops) and comes
// back, and with Maglev and sloppy TCP every flow that moves lands on its
// real server through the other director. No request may fail.
func TestBGPRollingRestart(t *testing.T) {
	const vip = "198.18.0.10"
	const connections, senders = 300, 6
	e := buildECMPBed(t, "fbgr", vip)
	startBird(t, e.router, ecmpRouterAddr, ecmpDirectorA, ecmpDirectorB)
	configs := []string{bgpDirectorConfig(ecmpDirectorA, e.mhService(vip)), bgpDirectorConfig(ecmpDirectorB, e.mhService(vip))}
	directors := []*director{startDirectorOn(t, e.directors[0], configs[0]), startDirectorOn(t, e.directors[1], configs[1])}
	both := []string{ecmpDirectorA, ecmpDirectorB}
	e.waitNextHops(vip, both, 20*time.Second)

	type flow struct {
		conn     *keepAlive
		server   string
		requests int
	}
	flows := make([]*flow, connections)
	for i := range flows {
		k := dialKeepAlive(t, e.client, vip+":80")
		r, err := k.get()
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		flows[i] = &flow{conn: k, server: r.server, requests: 1}
	}
	if !newConnsSeen(directors[0]) || !newConnsSeen(directors[1]) {
		t.Fatal("ECMP did not spread the connections over both directors")
	}

	// Senders walk their share of the flows, one request each, round after
	// round, until the restarts are over.
	restarted := make(chan struct{})
	failures := make(chan error, senders)
	finished := make(chan struct{}, senders)
	for s := range senders {
		go func() {
			defer func() { finished <- struct{}{} }()
			for {
				for i := s; i < connections; i += senders {
					f := flows[i]
					r, err := f.conn.get()
					if err == nil && r.server != f.server {
						err = fmt.Errorf("moved from %s to %s", f.server, r.server)
					}
					if err != nil {
						failures <- fmt.Errorf("connection %d after %d requests: %w", i, f.requests, err)
						return
					}
					f.requests++
				}
				select {
				case <-restarted:
					return
				default:
				}
			}
		}()
	}

	// Director a is told by SIGTERM, director b by `fastlvs bgp --drain`.
	for i, host := range e.directors {
		if i == 0 {
			if err := directors[i].process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		} else if out, err := exec.Command(binary, "bgp", "--drain", "--api", directors[i].apiAddress()).CombinedOutput(); err != nil {
			t.Fatalf("fastlvs bgp --drain: %v\n%s", err, out)
		}
		select {
		case <-directors[i].process.Exited():
		case <-time.After(10 * time.Second):
			t.Fatalf("director %d did not stop", i)
		}
		directors[i] = startDirectorOn(t, host, configs[i])
		e.waitNextHops(vip, both, 20*time.Second)
		time.Sleep(time.Second) // traffic through the restarted director
	}
	close(restarted)
	for range senders {
		<-finished
	}
	select {
	case err := <-failures:
		t.Fatal(err)
	default:
	}
	least := flows[0].requests
	for _, f := range flows {
		least = min(least, f.requests)
	}
	t.Logf("%d connections through two rolling restarts, at least %d requests each", connections, least)
	if least < 5 {
		t.Fatalf("a connection sent only %d requests during the restarts", least)
	}
}
