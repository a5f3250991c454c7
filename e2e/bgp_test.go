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
// director (IPv4 neighbours over an ipv4 channel, IPv6 ones over ipv6) and
// installing the routes it learns into the router's kernel, equal ones
// merged into one multipath route. Config, log and control socket live in a
// temporary directory; BIRD is stopped by its PID.
func (e *ecmpBed) startBird(directors ...string) *testbed.Process {
	t, router := e.t, e.router
	t.Helper()
	dir := t.TempDir()
	var config strings.Builder
	fmt.Fprintf(&config, `router id %s;
log stderr all;
protocol device {}
protocol kernel kernel4 {
	ipv4 { import none; export all; };
	merge paths on;
}
protocol kernel kernel6 {
	ipv6 { import none; export all; };
	merge paths on;
}
template bgp director4 {
	local %s as %d;
	hold time 9;
	connect retry time 1;
	ipv4 { import all; export none; };
}
template bgp director6 {
	local %s as %d;
	hold time 9;
	connect retry time 1;
	ipv6 { import all; export none; };
}
`, ecmpRouterAddr, ecmpRouterAddr, routerASN, ecmpRouterAddr6, routerASN)
	for i, addr := range directors {
		family := "4"
		if strings.Contains(addr, ":") {
			family = "6"
		}
		fmt.Fprintf(&config, "protocol bgp director%d from director%s { neighbor %s as %d; }\n", i, family, addr, directorASN)
	}
	configPath := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(configPath, []byte(config.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "bird.ctl")
	bird, err := testbed.StartProcess(router.Command("bird", "-f", "-c", configPath, "-s", socket))
	if err != nil {
		t.Fatalf("start bird (is the bird2 package installed?): %v", err)
	}
	e.birdSocket = socket
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bird output:\n%s", bird.Tail(40))
		}
		bird.Stop(syscall.SIGTERM, 3*time.Second)
	})
	if err := bird.WaitFor("Started", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return bird
}

// bgpDirectorConfig is a director's config announcing its VIPs to the
// router at each of routerAddrs; self is its own lan address (its router id).
func bgpDirectorConfig(self, services string, routerAddrs ...string) string {
	peers := ""
	for _, addr := range routerAddrs {
		peers += fmt.Sprintf("    - {address: '%s', asn: %d, hold_time: 9s}\n", addr, routerASN)
	}
	return fmt.Sprintf(`interfaces: [eth1]
options: {sloppy_tcp: true}
drain_grace: 3s
bgp:
  asn: %d
  router_id: %s
  peers:
%sservices:
%s`, directorASN, self, peers, services)
}

var viaPattern = regexp.MustCompile(`via (\S+)`)

// nextHops lists the router's kernel next hops for vip's host route, sorted.
func (e *ecmpBed) nextHops(vip string) []string {
	e.t.Helper()
	addr := netip.MustParseAddr(vip)
	family := "-4"
	if addr.Is6() {
		family = "-6"
	}
	out := e.run(e.router, "ip", family, "route", "show", netip.PrefixFrom(addr, addr.BitLen()).String())
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
			routes, _ := e.router.Run("birdc", "-s", e.birdSocket, "show", "route", "all")
			e.t.Fatalf("router routes %s via %v, want %v (after %s); BIRD's routes:\n%s", vip, got, want, timeout, routes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *director) apiAddress() string {
	return "unix://" + filepath.Join(filepath.Dir(d.configPath), "api.sock")
}

func (d *director) apiClient() *api.Client { return api.NewClient(d.apiAddress(), "") }

// TestBGPAnnouncesUsableVIPs: two directors announce their VIPs (IPv4 and
// IPv6) to BIRD, which installs one route with both directors as next hops;
// a VIP whose real servers are all out of rotation (weight 0 through the
// API, or failed health checks) is withdrawn within 2 s; a director that
// gets SIGTERM withdraws its routes while it still forwards.
func TestBGPAnnouncesUsableVIPs(t *testing.T) {
	const web, api2, checked, web6 = "198.18.0.10", "198.18.0.20", "198.18.0.30", "2001:2::10"
	e := buildECMPBed(t, "fbgp", web, api2, checked)
	e.addIPv6(web6)
	// checked's service is health-checked on port 8081, which the real
	// servers serve until the test closes it.
	var checkPorts []*testbed.Server
	for i := range 3 {
		server, err := e.bed.Lookup(fmt.Sprintf("r%d", i+1)).ServeHTTP("check", "0.0.0.0:8081")
		e.must(err)
		checkPorts = append(checkPorts, server)
	}
	checkedService := strings.Replace(e.mhService(checked), "health_check: {type: none}",
		"health_check: {type: tcp, port: 8081, interval: 300ms, timeout: 200ms, rise: 1, fall: 1}", 1)
	e.startBird(ecmpDirectorA, ecmpDirectorB, ecmpDirectorA6, ecmpDirectorB6)
	services := e.mhService(web) + e.mhService(api2) + checkedService + e.mhService6(web6)
	a := startDirectorOn(t, e.directors[0], bgpDirectorConfig(ecmpDirectorA, services, ecmpRouterAddr, ecmpRouterAddr6))
	b := startDirectorOn(t, e.directors[1], bgpDirectorConfig(ecmpDirectorB, services, ecmpRouterAddr, ecmpRouterAddr6))
	both, both6 := []string{ecmpDirectorA, ecmpDirectorB}, []string{ecmpDirectorA6, ecmpDirectorB6}
	e.waitNextHops(web, both, 20*time.Second)
	e.waitNextHops(api2, both, 5*time.Second)
	e.waitNextHops(web6, both6, 5*time.Second)
	e.waitNextHops(checked, both, 5*time.Second)

	// Visibility: the API, the CLI and the metrics agree.
	status, err := a.apiClient().BGP()
	if err != nil {
		t.Fatal(err)
	}
	if len(status.Sessions) != 2 || !status.Sessions[0].Up || !status.Sessions[1].Up || len(status.Announced) != 4 {
		t.Errorf("GET /v1/bgp: %+v", status)
	}
	cli, err := exec.Command(binary, "bgp", "--api", a.apiAddress()).CombinedOutput()
	if err != nil || !regexp.MustCompile(`198\.18\.2\.1\s+64512\s+established`).Match(cli) || !strings.Contains(string(cli), "announced prefixes: 4") {
		t.Errorf("fastlvs bgp: %v\n%s", err, cli)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	metrics, err := e.directors[0].HTTPGet(ctx, "http://127.0.0.1:9120/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`fastlvs_bgp_session_up{peer="198.18.2.1"} 1`, `fastlvs_bgp_session_up{peer="2001:2::2:1"} 1`, "fastlvs_bgp_announced_prefixes 4"} {
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

	// The health checks of checked's real servers fail: the directors take
	// them out and the router drops checked within 2 s (detection included).
	for _, server := range checkPorts {
		e.must(server.Close())
	}
	took = e.waitNextHops(checked, nil, 2*time.Second)
	t.Logf("withdrawn %s %s after its real servers' health-check port closed", checked, took)

	// SIGTERM on director a: its route goes first, its dataplane keeps
	// running through drain_grace, then it stops.
	if err := a.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took = e.waitNextHops(web, []string{ecmpDirectorB}, 2*time.Second)
	e.waitNextHops(web6, []string{ecmpDirectorB6}, time.Second)
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
	e.startBird(ecmpDirectorA, ecmpDirectorB)
	configs := []string{bgpDirectorConfig(ecmpDirectorA, e.mhService(vip), ecmpRouterAddr), bgpDirectorConfig(ecmpDirectorB, e.mhService(vip), ecmpRouterAddr)}
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
