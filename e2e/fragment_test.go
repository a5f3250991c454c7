package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// bigDatagram is larger than any MTU here: it travels in fragments both ways.
const bigDatagram = 4000

// serveBigEcho answers every datagram on addr of every real server with
// bigDatagram bytes starting "<name> <bytes received>", so the client learns
// which server had the whole request, and gets a fragmented answer back.
func serveBigEcho(t *testing.T, topo *testbed.Topology, network, addr string) {
	t.Helper()
	for i, r := range topo.Reals {
		name := "r" + strconv.Itoa(i+1)
		pc, err := r.ListenPacket(network, addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, from, err := pc.ReadFrom(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					continue
				}
				answer := make([]byte, bigDatagram)
				for k := range answer {
					answer[k] = byte('a' + k%26)
				}
				copy(answer, fmt.Sprintf("%s %d ", name, n))
				pc.WriteTo(answer, from)
			}
		}()
	}
}

// checkBigEchoes sends requests datagrams of bigDatagram bytes from every
// client to vip:port and checks each came back whole from a server that got
// it whole.
func checkBigEchoes(t *testing.T, topo *testbed.Topology, clientAddrs []string, vip string, port, requests int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	warmUpBigEcho(t, topo, clientAddrs, net.JoinHostPort(vip, strconv.Itoa(port)))
	request := make([]byte, bigDatagram)
	for k := range request {
		request[k] = byte(k)
	}
	servers := map[string]int{}
	retried := 0
	for k := range requests {
		i := k % len(topo.Clients)
		answer, err := topo.Clients[i].UDPRequest(ctx, net.JoinHostPort(vip, strconv.Itoa(port)), clientAddrs[i], request, 3*time.Second)
		if err != nil && retried == 0 {
			// One datagram of the run may be lost on a busy two-core
			// machine, and a UDP client asks again; a second loss fails.
			retried++
			t.Logf("request %d of %d bytes: %v; asking again", k, bigDatagram, err)
			answer, err = topo.Clients[i].UDPRequest(ctx, net.JoinHostPort(vip, strconv.Itoa(port)), clientAddrs[i], request, 3*time.Second)
		}
		if err != nil {
			t.Fatalf("request %d of %d bytes: %v", k, bigDatagram, err)
		}
		fields := strings.Fields(answer[:min(len(answer), 32)])
		if len(answer) != bigDatagram || len(fields) < 2 || fields[1] != strconv.Itoa(bigDatagram) {
			t.Fatalf("request %d: answer of %d bytes starting %q, want %d bytes from a server that got %d",
				k, len(answer), answer[:min(len(answer), 32)], bigDatagram, bigDatagram)
		}
		servers[fields[0]]++
	}
	return servers
}

// warmUpBigEcho sends small requests until every client has had an answer
// and every real server has answered: the director learns its neighbours
// from the kernel after their first packets, which it drops (counted), and
// UDP does not send again.
func warmUpBigEcho(t *testing.T, topo *testbed.Topology, clientAddrs []string, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients, servers := map[int]bool{}, map[string]bool{}
	for tries := 0; tries < 100 && (len(clients) < len(topo.Clients) || len(servers) < len(topo.Reals)); tries++ {
		i := tries % len(topo.Clients)
		answer, err := topo.Clients[i].UDPRequest(ctx, addr, clientAddrs[i], []byte("warm-up"), 300*time.Millisecond)
		if err != nil {
			continue
		}
		clients[i] = true
		name, _, _ := strings.Cut(answer, " ")
		servers[name] = true
	}
	if len(clients) < len(topo.Clients) || len(servers) < len(topo.Reals) {
		t.Fatalf("warm-up: clients answered %v, servers answering %v", clients, servers)
	}
}

// TestFragmentedUDP sends 4,000-byte datagrams through every method: each
// reaches one real server whole, and its 4,000-byte answer (fragmented as
// well; through the director for NAT and FULLNAT) reaches the client whole.
func TestFragmentedUDP(t *testing.T) {
	const vip, port, requests = "198.18.0.10", 9, 12
	service := func(forward, extra string) string {
		return fmt.Sprintf("interfaces: [eth1]\nservices:\n"+
			"  - {vip: %s, port: %d, protocol: udp, scheduler: rr, forward: %s, %shealth_check: {type: none},\n"+
			"     real_servers: [%s, %s, %s]}\n", vip, port, forward, extra, real(1, 1), real(2, 1), real(3, 1))
	}
	for _, tc := range []struct {
		forward string
		mode    testbed.Mode
		listen  string // where the real servers listen
		queues  int    // workers
	}{
		{"dr", testbed.ModeDR, vip, 1},
		{"nat", testbed.ModeNAT, "0.0.0.0", 1},
		{"fullnat", testbed.ModeNAT, "0.0.0.0", 1},
		{"tun", testbed.ModeDR, vip, 1},
		// Two workers: a datagram's fragments arrive on either queue, the
		// first goes to its connection's owner, the rest to the fragment
		// owner, which learns the decision over the hand-over ring.
		{"nat", testbed.ModeNAT, "0.0.0.0", 2},
		{"fullnat", testbed.ModeNAT, "0.0.0.0", 2},
	} {
		name := tc.forward
		if tc.queues > 1 {
			name += "/two-workers"
		}
		t.Run(name, func(t *testing.T) {
			var topo *testbed.Topology
			extra := ""
			if tc.forward == "fullnat" {
				topo = fullnatTopology(t, tc.queues)
				extra = "local_addresses: [" + strings.Join(fullnatLocals, ", ") + "], "
			} else {
				var err error
				topo, err = testbed.BuildTopology(testbed.ForTest(t, "ffr"),
					testbed.TopologyOptions{Mode: tc.mode, Queues: tc.queues, Clients: 2 * tc.queues})
				if err != nil {
					t.Fatal(err)
				}
			}
			if tc.forward == "tun" {
				// The tunnel header must fit: the clients send fragments
				// of 1400, and the real servers answer them in as small.
				for _, c := range topo.Clients {
					mustRun(t, c, "ip", "link", "set", "eth0", "mtu", "1400")
				}
				for _, r := range topo.Reals {
					mustRun(t, r, "ip", "route", "replace", testbed.ClientNet, "dev", "eth0", "mtu", "1400")
				}
				attachDecap(t, topo)
			}
			serveBigEcho(t, topo, "udp4", net.JoinHostPort(tc.listen, strconv.Itoa(port)))
			startDirector(t, topo, service(tc.forward, extra), "--metrics", metricsAddr)
			servers := checkBigEchoes(t, topo, topo.ClientAddrs, vip, port, requests)
			if len(servers) != len(topo.Reals) {
				t.Errorf("answers by server %v: want all %d real servers (rr)", servers, len(topo.Reals))
			}
			checkFragmentsForwarded(t, topo, 2*requests)
		})
	}
}

// checkFragmentsForwarded asserts the workers, not the kernel, sent at least
// want later fragments.
func checkFragmentsForwarded(t *testing.T, topo *testbed.Topology, want int) {
	t.Helper()
	scraper := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: topo.Director.DialContext, DisableKeepAlives: true}}
	time.Sleep(1500 * time.Millisecond) // counters are published per batch, metrics read them on scrape
	e := scrape(t, scraper)
	got := e.sum("fastlvs_worker_fragments_forwarded_total", "")
	if got < float64(want) {
		t.Errorf("workers forwarded %.0f later fragments, want at least %d", got, want)
	}
	t.Logf("later fragments forwarded by the workers: %.0f; held: %.0f", got, e.sum("fastlvs_worker_fragments_held_total", ""))
}

func mustRun(t *testing.T, h *testbed.Host, args ...string) {
	t.Helper()
	if out, err := h.Run(args...); err != nil {
		t.Fatalf("%s: %s: %v %s", h.Name, strings.Join(args, " "), err, out)
	}
}

// TestFragmentedUDPIPv6 is TestFragmentedUDP over IPv6: the fragments carry
// a fragment header, and only the hosts at either end fragment.
func TestFragmentedUDPIPv6(t *testing.T) {
	const port, requests = 9, 12
	for _, tc := range []struct {
		forward string
		mode    testbed.Mode
		listen  string
	}{
		{"dr", testbed.ModeDR, vip6},
		{"nat", testbed.ModeNAT, "::"},
		{"fullnat", testbed.ModeNAT, "::"},
		{"tun", testbed.ModeDR, vip6},
	} {
		t.Run(tc.forward, func(t *testing.T) {
			topo, err := testbed.BuildTopology(testbed.ForTest(t, "ffr6"), testbed.TopologyOptions{Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			clients, reals := ipv6Setup(t, topo, tc.forward)
			if tc.forward == "tun" {
				for _, c := range topo.Clients {
					mustRun(t, c, "ip", "link", "set", "eth0", "mtu", "1400")
				}
				for _, r := range topo.Reals {
					mustRun(t, r, "ip", "-6", "route", "replace", clientNet6, "dev", "eth0", "mtu", "1400")
				}
				attachDecap(t, topo)
			}
			serveBigEcho(t, topo, "udp6", net.JoinHostPort(tc.listen, strconv.Itoa(port)))
			config := "interfaces: [eth1]\nservices:\n" + strings.Replace(ipv6Service(tc.forward, "udp", port, reals), "wrr", "rr", 1)
			startDirector(t, topo, config, "--metrics", metricsAddr)
			servers := checkBigEchoes(t, topo, clients, vip6, port, requests)
			if len(servers) != len(topo.Reals) {
				t.Errorf("answers by server %v: want all %d real servers (rr)", servers, len(topo.Reals))
			}
			checkFragmentsForwarded(t, topo, 2*requests)
		})
	}
}
