package e2e

import (
	endian "encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"fastlvs/control/api"
	"fastlvs/testbed"

	"golang.org/x/sys/unix"
)

// Site overflow: two sites, each a fastlvs director with a DR real server,
// behind one router. The VIP is routed to site A, whose capacity is 4 active
// connections; over 1.1 times that it tunnels new connections (IPIP) to site
// B's director, which opens the tunnel and serves them with its own real
// server, which answers the client directly; below 0.7 times it new
// connections stay home again. Established connections never move.
//
//	client ── router ─┬─ site A lan: dira (198.18.2.2), a1 (198.18.2.11)
//	                  └─ site B lan: dirb (198.18.3.2), b1 (198.18.3.11)
const (
	overflowVIP      = "198.18.0.10"
	overflowClient   = "198.18.1.11"
	overflowCapacity = 4
)

type overflowBed struct {
	t          *testing.T
	client     *testbed.Host
	dirA, dirB *testbed.Host
	b1         *testbed.Server
	siteA      *director
	siteB      *director
}

// buildOverflowBed builds the two sites; tunnel is site A's overflow
// tunnel, ipip or gue (site B accepts both).
func buildOverflowBed(t *testing.T, prefix, tunnel string) *overflowBed {
	bed := testbed.ForTest(t, prefix)
	must := func(err error) { t.Helper(); mustOK(t, err) }
	host := func(name string) *testbed.Host { t.Helper(); return testbed.HostForTest(t, bed, name) }
	router := host("router")
	must(router.Sysctl("net.ipv4.ip_forward", "1"))
	e := &overflowBed{t: t, client: host("client")}
	must(bed.Connect(e.client, "eth0", router, "eth0", testbed.LinkOptions{Queues: 1}))
	must(e.client.AddAddr("eth0", overflowClient+"/24"))
	must(router.AddAddr("eth0", "198.18.1.1/24"))
	must(e.client.AddRoute("default", "198.18.1.1"))

	// site builds a lan (a bridge in the router) with a director and a DR
	// real server that holds the VIP on lo and answers via the router.
	site := func(name, net string) (*testbed.Host, *testbed.Server) {
		lan := "br" + name
		must(bed.Bridge(router, lan))
		must(router.AddAddr(lan, net+".1/24"))
		plug := func(h *testbed.Host, port, addr string) {
			must(bed.Connect(h, "eth0", router, port, testbed.LinkOptions{Queues: 1}))
			must(bed.Attach(router, lan, port))
			must(h.AddAddr("eth0", addr+"/24"))
			must(h.AddRoute("default", net+".1"))
		}
		dir := host("dir" + name)
		plug(dir, "pd"+name, net+".2")
		real := host(name + "1")
		plug(real, "pr"+name, net+".11")
		for _, kv := range [][2]string{
			{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_ignore", "1"},
			{"net.ipv4.conf.all.arp_announce", "2"}, {"net.ipv4.conf.eth0.arp_announce", "2"},
		} {
			must(real.Sysctl(kv[0], kv[1]))
		}
		must(real.AddAddr("lo", overflowVIP+"/32"))
		server, err := real.ServeHTTP(name+"1", "0.0.0.0:80")
		must(err)
		return dir, server
	}
	e.dirA, _ = site("a", "198.18.2")
	e.dirB, e.b1 = site("b", "198.18.3")
	must(router.AddRoute(overflowVIP+"/32", "198.18.2.2")) // the VIP lives at site A

	e.siteB = startDirectorOn(t, e.dirB, `interfaces: [eth0]
overflow_accept: {from: [198.18.2.2], gue_port: 6080}
services:
  - {vip: `+overflowVIP+`, port: 80, scheduler: rr, forward: dr, health_check: {type: none},
     real_servers: [{address: 198.18.3.11}]}
`, "--metrics", metricsAddr)
	tunnelSetting := "tunnel: ipip"
	if tunnel == "gue" {
		tunnelSetting = "tunnel: gue, gue_port: 6080"
	}
	e.siteA = startDirectorOn(t, e.dirA, fmt.Sprintf(`interfaces: [eth0]
services:
  - {vip: %s, port: 80, scheduler: rr, forward: dr, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}],
     overflow: {to: 198.18.3.2, high: 1.1, low: 0.7, capacity: %d, %s}}
`, overflowVIP, overflowCapacity, tunnelSetting), "--metrics", metricsAddr)
	return e
}

// overflow reads site A's overflow state from its API.
func (e *overflowBed) overflow() api.Overflow {
	e.t.Helper()
	s, err := e.siteA.apiClient().Service(api.ServiceKey{Protocol: "tcp", Address: netip.MustParseAddr(overflowVIP), Port: 80})
	if err != nil || s.Overflow == nil {
		e.t.Fatalf("site A's service: %+v, %v", s, err)
	}
	return *s.Overflow
}

// waitShedding waits for site A's overflow measurement (every 100 ms) to
// reach the state want.
func (e *overflowBed) waitShedding(want bool) api.Overflow {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		o := e.overflow()
		if o.Shedding == want {
			return o
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("site A shedding %v, want %v: %+v", o.Shedding, want, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open opens a keep-alive connection to the VIP and checks which site's
// real server answered it and that it saw the client's own address.
func (e *overflowBed) open(wantServer string) *keepAlive {
	e.t.Helper()
	k := dialKeepAlive(e.t, e.client, overflowVIP+":80")
	e.expect(k, wantServer)
	return k
}

// expect sends one request on k and checks who answered.
func (e *overflowBed) expect(k *keepAlive, wantServer string) {
	e.t.Helper()
	r, err := k.get()
	if err != nil {
		e.t.Fatalf("request on a connection to %s: %v (site A overflow %+v)", wantServer, err, e.overflow())
	}
	if ap, err := netip.ParseAddrPort(r.client); r.server != wantServer || err != nil || ap.Addr().String() != overflowClient {
		e.t.Fatalf("answered by %s seeing client %s, want %s seeing %s", r.server, r.client, wantServer, overflowClient)
	}
}

// spoofTunnel sends n IPIP packets from the client (no peer of site B) to
// site B's director, each holding a SYN from the client to the VIP: a
// stranger trying to have site B serve a forged connection.
func (e *overflowBed) spoofTunnel(n int) {
	e.t.Helper()
	conn, err := e.client.ListenPacket("ip4:4", overflowClient)
	mustOK(e.t, err)
	defer conn.Close()
	inner := make([]byte, 40)
	for i := range n {
		buildSpoofed(inner, unix.IPPROTO_TCP, netip.MustParseAddr(overflowClient).As4(),
			netip.MustParseAddrPort(overflowVIP+":80"), uint16(41000+i), 1)
		endian.BigEndian.PutUint16(inner[10:], ipv4HeaderChecksum(inner[:20]))
		if _, err := conn.WriteTo(inner, &net.IPAddr{IP: net.ParseIP("198.18.3.2")}); err != nil {
			e.t.Fatalf("send a tunnel packet to site B: %v", err)
		}
	}
}

// ipv4HeaderChecksum is the RFC 1071 sum of a header whose checksum is 0.
func ipv4HeaderChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(endian.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func (e *overflowBed) scrape(h *testbed.Host) exposition {
	e.t.Helper()
	scraper := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	return scrape(e.t, scraper)
}

// TestSiteOverflow ramps the load on site A up past 1.1 times its capacity
// and back down below 0.7 times it: new connections go to site B (by IPIP,
// then by GUE) while A is over, and come home after; every connection keeps
// its site to the end.
func TestSiteOverflow(t *testing.T) {
	for _, tunnel := range []string{"ipip", "gue"} {
		t.Run(tunnel, func(t *testing.T) { testSiteOverflow(t, "ov"+tunnel[:1], tunnel) })
	}
}

func testSiteOverflow(t *testing.T, prefix, tunnel string) {
	e := buildOverflowBed(t, prefix, tunnel)

	// Up to capacity and one over it (5 of 4: 1.25 > 1.1), all at home.
	var home []*keepAlive
	for range overflowCapacity + 1 {
		home = append(home, e.open("a1"))
	}
	o := e.waitShedding(true)
	t.Logf("site A over its capacity: %+v", o)

	// New connections now go to site B, whose real server sees the client.
	var shed []*keepAlive
	for range 3 {
		shed = append(shed, e.open("b1"))
	}
	if n := e.b1.Clients()[overflowClient]; n != 3 {
		t.Fatalf("site B's real server logged %d requests from %s, want 3 (all: %v)", n, overflowClient, e.b1.Clients())
	}
	for _, k := range home {
		e.expect(k, "a1") // established connections stay home
	}

	// Load falls: 2 of 4 (0.5 < 0.7) stay; new connections come home.
	for _, k := range home[2:] {
		k.conn.Close()
	}
	home = home[:2]
	o = e.waitShedding(false)
	t.Logf("site A back under low: %+v", o)
	for range 2 {
		home = append(home, e.open("a1"))
	}

	// No connection broke or moved.
	for _, k := range home {
		e.expect(k, "a1")
	}
	for _, k := range shed {
		e.expect(k, "b1")
	}

	o = e.overflow()
	if o.ShedConns != 3 || o.ActiveConns != 3 {
		t.Errorf("site A reports %d shed, %d of them active; want 3 and 3", o.ShedConns, o.ActiveConns)
	}
	e.spoofTunnel(3)                   // a stranger's tunnel to site B is refused
	time.Sleep(200 * time.Millisecond) // counters are published per batch
	a, b := e.scrape(e.dirA), e.scrape(e.dirB)
	if got := a.sum("fastlvs_service_overflow_shed_connections_total", ""); got != 3 {
		t.Errorf("site A's metrics: %v shed connections, want 3", got)
	}
	if got := a.sum("fastlvs_service_overflow_shedding", ""); got != 0 {
		t.Errorf("site A's metrics: shedding %v, want 0", got)
	}
	if got := b.sum("fastlvs_worker_overflow_received_packets_total", ""); got < 6 {
		t.Errorf("site B opened %v tunnelled packets, want at least 6 (3 handshakes and requests)", got)
	}
	if got := b.sum("fastlvs_steer_packets_total", "outcome=overflow_tunnel"); got < 6 {
		t.Errorf("site B's steering took %v tunnelled packets, want at least 6", got)
	}
	if got := b.sum("fastlvs_worker_dropped_packets_total", "reason=overflow_peer_refused"); got != 3 {
		t.Errorf("site B refused %v tunnelled packets, want the client's 3 (not its peer's)", got)
	}
}
