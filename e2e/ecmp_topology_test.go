package e2e

import (
	"fmt"
	"strings"
	"testing"

	"fastlvs/testbed"
)

// ecmpBed is the two-director ECMP topology: a client behind a router whose
// lan also holds two directors and three DR real servers (the VIPs on their
// loopback, each serving HTTP on port 80).
//
//	client ── router ══ lan bridge ══ director a, director b, r1 r2 r3 (VIPs on lo)
type ecmpBed struct {
	t              *testing.T
	bed            *testbed.Bed
	client, router *testbed.Host
	// directors are at 198.18.2.2 and 198.18.2.3; the router at 198.18.2.1.
	directors []*testbed.Host
	// realServers lists the real servers for a config ("{address: ...}, ").
	realServers string
	// birdSocket is the control socket of the router's BIRD, once started.
	birdSocket string
}

// Director and router addresses on the lan (IPv6 ones after addIPv6).
const (
	ecmpRouterAddr  = "198.18.2.1"
	ecmpDirectorA   = "198.18.2.2"
	ecmpDirectorB   = "198.18.2.3"
	ecmpRouterAddr6 = "2001:2::2:1"
	ecmpDirectorA6  = "2001:2::2:2"
	ecmpDirectorB6  = "2001:2::2:3"
)

func buildECMPBed(t *testing.T, prefix string, vips ...string) *ecmpBed {
	e := &ecmpBed{t: t, bed: testbed.ForTest(t, prefix)}
	lan, client, router := e.host("lan"), e.host("client"), e.host("router")
	e.client, e.router = client, router
	e.must(e.bed.Bridge(lan, "br0"))
	plug := func(h *testbed.Host, port, addr string) {
		e.must(e.bed.Connect(h, "eth1", lan, port, testbed.LinkOptions{Queues: 1}))
		e.must(e.bed.Attach(lan, "br0", port))
		e.must(h.AddAddr("eth1", addr))
	}
	e.must(e.bed.Connect(client, "eth0", router, "eth0", testbed.LinkOptions{Queues: 1}))
	e.must(client.AddAddr("eth0", "198.18.1.11/24"))
	e.must(client.AddRoute("default", "198.18.1.1"))
	e.must(router.AddAddr("eth0", "198.18.1.1/24"))
	plug(router, "prouter", ecmpRouterAddr+"/24")
	e.must(router.Sysctl("net.ipv4.ip_forward", "1"))
	e.must(router.Sysctl("net.ipv4.fib_multipath_hash_policy", "1")) // hash ports too: flows spread over both
	for i, addr := range []string{ecmpDirectorA, ecmpDirectorB} {
		d := e.host(fmt.Sprintf("dir%c", 'a'+i))
		plug(d, fmt.Sprintf("pdir%d", i), addr+"/24")
		e.directors = append(e.directors, d)
	}
	for i := range 3 {
		r := e.host(fmt.Sprintf("r%d", i+1))
		addr := fmt.Sprintf("198.18.2.%d", 11+i)
		plug(r, fmt.Sprintf("preal%d", i), addr+"/24")
		e.must(r.AddRoute("default", ecmpRouterAddr))
		for _, vip := range vips {
			e.run(r, "ip", "addr", "add", vip+"/32", "dev", "lo")
		}
		for _, iface := range []string{"all", "eth1"} {
			e.must(r.Sysctl("net.ipv4.conf."+iface+".arp_ignore", "1"))
			e.must(r.Sysctl("net.ipv4.conf."+iface+".arp_announce", "2"))
		}
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "0.0.0.0:80"); err != nil {
			t.Fatal(err)
		}
		e.realServers += fmt.Sprintf("{address: %s}, ", addr)
	}
	return e
}

// mhService is a DR Maglev service with sloppy-TCP-friendly port hashing
// over the bed's real servers, as a line of a config's services list.
func (e *ecmpBed) mhService(vip string) string {
	return fmt.Sprintf(`  - {vip: %s, port: 80, protocol: tcp, scheduler: mh, flags: [mh-port], forward: dr, health_check: {type: none},
     real_servers: [%s]}
`, vip, strings.TrimSuffix(e.realServers, ", "))
}

// addIPv6 gives the router, the directors and the real servers IPv6
// addresses on the lan (2001:2::2:1, :2, :3 and :11-:13), and the real
// servers the IPv6 vips on their loopback.
func (e *ecmpBed) addIPv6(vips ...string) {
	e.t.Helper()
	add := func(h *testbed.Host, addr string) {
		e.run(h, "ip", "-6", "addr", "add", addr+"/64", "dev", "eth1", "nodad")
	}
	add(e.router, ecmpRouterAddr6)
	e.must(e.router.Sysctl("net.ipv6.conf.all.forwarding", "1"))
	add(e.directors[0], ecmpDirectorA6)
	add(e.directors[1], ecmpDirectorB6)
	for i := range 3 {
		r := e.bed.Lookup(fmt.Sprintf("r%d", i+1))
		add(r, fmt.Sprintf("2001:2::2:%d", 11+i))
		for _, vip := range vips {
			e.run(r, "ip", "-6", "addr", "add", vip+"/128", "dev", "lo")
		}
	}
}

// mhService6 is mhService for an IPv6 vip over the real servers' IPv6
// addresses.
func (e *ecmpBed) mhService6(vip string) string {
	return fmt.Sprintf(`  - {vip: %s, port: 80, protocol: tcp, scheduler: mh, flags: [mh-port], forward: dr, health_check: {type: none},
     real_servers: [{address: "2001:2::2:11"}, {address: "2001:2::2:12"}, {address: "2001:2::2:13"}]}
`, vip)
}

func (e *ecmpBed) host(name string) *testbed.Host {
	e.t.Helper()
	h, err := e.bed.Host(name)
	e.must(err)
	return h
}

func (e *ecmpBed) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *ecmpBed) run(h *testbed.Host, args ...string) string {
	e.t.Helper()
	out, err := h.Run(args...)
	if err != nil {
		e.t.Fatalf("%s: %v: %s", h.Name, err, out)
	}
	return string(out)
}
