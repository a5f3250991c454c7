package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
	"fastlvs/tunnel"
)

// IPv6 addressing of a testbed topology (2001:2::/48): VIPs 2001:2::/64,
// clients 2001:2:1::/64, real servers 2001:2:2::/64, FULLNAT local
// addresses 2001:2:3::/64. Neighbour discovery is the kernel's on every
// host, the director's included (its entries reach the workers as ARP's do).
const (
	vip6        = "2001:2::10"
	clientNet6  = "2001:2:1::/64"
	realGW6     = "2001:2:2::1"
	localNet6   = "2001:2:3::/64"
	fullnatLoc6 = "2001:2:3::1"
)

// ipv6Setup gives a one-arm topology's hosts IPv6 addresses for forwarding
// method forward and returns the clients' and real servers' addresses. Real
// servers of DR and TUN hold the VIP on lo (IPv6 answers neighbour
// solicitations only for addresses of the receiving interface, so no
// arp_ignore is needed) and reach the clients on-link; FULLNAT real servers
// reach only their segment and the local addresses.
func ipv6Setup(t *testing.T, topo *testbed.Topology, forward string) (clients, reals []string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	d := topo.Director
	must(d.Sysctl("net.ipv6.conf.all.forwarding", "1"))
	must(d.AddAddr("eth1", "2001:2:1::1/64"))
	must(d.AddAddr("eth1", realGW6+"/64"))
	must(d.AddAddr("eth1", vip6+"/128"))
	for i, c := range topo.Clients {
		a := fmt.Sprintf("2001:2:1::%d", 11+i)
		must(c.AddAddr("eth0", a+"/64"))
		must(c.AddRoute("::/0", "2001:2:1::1"))
		clients = append(clients, a)
	}
	for i, r := range topo.Reals {
		a := fmt.Sprintf("2001:2:2::%d", 11+i)
		must(r.AddAddr("eth0", a+"/64"))
		switch forward {
		case "dr", "tun":
			must(r.AddAddr("lo", vip6+"/128"))
			must(r.AddRouteDev(clientNet6, "eth0"))
		case "fullnat":
			must(r.AddRoute(localNet6, realGW6))
		default:
			must(r.AddRoute("::/0", realGW6))
		}
		reals = append(reals, a)
	}
	return clients, reals
}

// ipv6Service is a config line for vip6:port over forward, real servers
// weighted 1, 2, 3.
func ipv6Service(forward, proto string, port int, reals []string) string {
	rs := []string{}
	for i, a := range reals {
		rs = append(rs, fmt.Sprintf("{address: '%s', weight: %d}", a, i+1))
	}
	extra := ""
	if forward == "fullnat" {
		extra = "local_addresses: ['" + fullnatLoc6 + "'], "
	}
	return fmt.Sprintf("  - {vip: '%s', port: %d, protocol: %s, scheduler: wrr, forward: %s, %shealth_check: {type: none}, real_servers: [%s]}\n",
		vip6, port, proto, forward, extra, strings.Join(rs, ", "))
}

// TestIPv6Methods is the balancing test over IPv6 for DR, FULLNAT and TUN
// (ip6ip6, and GUE over IPv6, opened by the project's decap program): 120 requests per
// protocol follow the weights, and the real servers see the clients' own
// addresses (FULLNAT: the local address).
func TestIPv6Methods(t *testing.T) {
	for _, name := range []string{"dr", "fullnat", "tun", "gue"} {
		t.Run(name, func(t *testing.T) {
			forward := name
			if name == "gue" {
				forward = "tun"
			}
			mode := testbed.ModeNAT
			if forward != "fullnat" {
				mode = testbed.ModeDR
			}
			topo, err := testbed.BuildTopology(testbed.ForTest(t, "ffr6"), testbed.TopologyOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			clients, reals := ipv6Setup(t, topo, forward)
			for i, r := range topo.Reals {
				name := "r" + strconv.Itoa(i+1)
				if _, err := r.ServeHTTP(name, "[::]:80"); err != nil {
					t.Fatal(err)
				}
				if _, err := r.ServeUDPEcho(name, "[::]:7"); err != nil {
					t.Fatal(err)
				}
			}
			var decaps []*tunnel.Decap
			if forward == "tun" {
				decaps = attachDecap(t, topo)
			}
			services := ipv6Service(forward, "tcp", 80, reals) + ipv6Service(forward, "udp", 7, reals)
			if name == "gue" {
				for _, d := range decaps {
					if err := d.SetGUEPorts([]uint16{6080}); err != nil {
						t.Fatal(err)
					}
				}
				services = strings.ReplaceAll(services, "forward: tun,", "forward: tun, tunnel: gue, gue_port: 6080,")
			}
			startDirector(t, topo, "interfaces: [eth1]\nservices:\n"+services)
			wantSeen := clients
			if forward == "fullnat" {
				wantSeen = []string{fullnatLoc6}
			}
			for _, proto := range []string{"tcp", "udp"} {
				rs := driveIPv6(t, topo, clients, proto, 120)
				checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
				for _, r := range rs {
					seen, err := netip.ParseAddrPort(r.client)
					if err != nil || !slices.Contains(wantSeen, seen.Addr().String()) {
						t.Fatalf("%s: real server %s saw %s, want one of %v", proto, r.server, r.client, wantSeen)
					}
				}
			}
			for i, d := range decaps {
				s, err := d.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if name == "gue" && (s.DecapGUE == 0 || s.Decap6in6 != 0) {
					t.Errorf("r%d opened %+v, want only GUE", i+1, s)
				}
				if name == "tun" && (s.Decap6in6 == 0 || s.Decap4in4 != 0 || s.DecapGUE != 0) {
					t.Errorf("r%d opened %+v, want only IPv6-in-IPv6", i+1, s)
				}
			}
		})
	}
}

// driveIPv6 sends n requests to vip6 (HTTP on 80 or UDP echo on 7) from
// the clients in turn.
func driveIPv6(t *testing.T, topo *testbed.Topology, clients []string, proto string, n int) []response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rs []response
	for k := range n {
		i := k % len(topo.Clients)
		var body string
		var err error
		if proto == "tcp" {
			body, err = topo.Clients[i].HTTPGet(ctx, "http://["+vip6+"]/", clients[i])
		} else {
			body, err = topo.Clients[i].UDPRequest(ctx, net.JoinHostPort(vip6, "7"), clients[i], []byte("hi"), 2*time.Second)
		}
		if err != nil {
			t.Fatalf("%s request %d over IPv6: %v", proto, k, err)
		}
		r, err := parseResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}
