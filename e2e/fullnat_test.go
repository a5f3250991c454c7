package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// The director's FULLNAT local addresses. They are not on any segment: the
// real servers route 198.18.3.0/24 via the director's 198.18.2.1, as they
// would route a DPVS director's local addresses, so nobody needs to answer
// ARP for them (the XDP program takes their packets before the kernel).
var fullnatLocals = []string{"198.18.3.1", "198.18.3.2"}

const fullnatLocalNet = "198.18.3.0/24"

// fullnatConfig: one wrr FULLNAT service for HTTP on 80 and one for UDP echo
// on 7, real servers weighted 1, 2, 3.
func fullnatConfig() string {
	cfg := "interfaces: [eth1]\nservices:\n"
	for _, svc := range []struct {
		proto string
		port  int
	}{{"tcp", 80}, {"udp", 7}} {
		cfg += "  - {vip: 198.18.0.10, port: " + strconv.Itoa(svc.port) + ", protocol: " + svc.proto +
			", scheduler: wrr, forward: fullnat, local_addresses: [" + strings.Join(fullnatLocals, ", ") + "], health_check: {type: none},\n" +
			"     real_servers: [" + real(1, 1) + ", " + real(2, 2) + ", " + real(3, 3) + "]}\n"
	}
	return cfg
}

// fullnatTopology is the NAT topology with the real servers' default route
// taken away: they reach their own segment and the local addresses, and
// have no route to any client. Only FULLNAT can serve the clients then.
func fullnatTopology(t *testing.T, queues int) *testbed.Topology {
	t.Helper()
	topo := fullnatNetwork(t, "ffn", queues)
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	return topo
}

// fullnatNetwork is fullnatTopology's network without its servers.
func fullnatNetwork(t *testing.T, prefix string, queues int) *testbed.Topology {
	t.Helper()
	bed := testbed.ForTest(t, prefix)
	// With several workers, enough clients that the keyed owner hash gives
	// every worker some (all ten on one of two: one run in 512).
	clients := 2
	if queues > 1 {
		clients = 10
	}
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Queues: queues, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Reals {
		if _, err := r.Run("ip", "route", "del", "default"); err != nil {
			t.Fatal(err)
		}
		if err := r.AddRoute(fullnatLocalNet, testbed.RealGateway); err != nil {
			t.Fatal(err)
		}
		if out, err := r.Run("ip", "route", "get", topo.ClientAddrs[0]); err == nil {
			t.Fatalf("real server %s still has a route to the clients: %s", r.Name, out)
		}
	}
	return topo
}

// checkLocalAddresses asserts the real servers saw only the local addresses
// (every one of them) as clients, and returns the local ports they saw.
func checkLocalAddresses(tb testing.TB, rs []response) map[int]bool {
	tb.Helper()
	allowed := map[string]bool{}
	for _, a := range fullnatLocals {
		allowed[a] = true
	}
	seen, ports := map[string]bool{}, map[int]bool{}
	for _, r := range rs {
		i := strings.LastIndex(r.client, ":")
		ip := r.client[:i]
		port, err := strconv.Atoi(r.client[i+1:])
		if !allowed[ip] || err != nil || port < 1024 {
			tb.Fatalf("real server %s saw client %s, want a local address of %v and a port from 1024", r.server, r.client, fullnatLocals)
		}
		seen[ip] = true
		ports[port] = true
	}
	if len(seen) != len(fullnatLocals) {
		tb.Fatalf("real servers saw local addresses %v, want all of %v", seen, fullnatLocals)
	}
	return ports
}

// TestFullNAT: 300 HTTP requests (a new connection each) and 300 UDP
// requests from two clients through a FULLNAT director to real servers that
// have no route to the clients. Every response arrives, shares follow the
// weights, and the servers see the local addresses. With two workers on a
// two-queue interface, replies that land on the worker not owning their
// local port are handed to the owner.
func TestFullNAT(t *testing.T) {
	weights := map[string]int{"r1": 1, "r2": 2, "r3": 3}
	for _, queues := range []int{1, 2} {
		t.Run(strconv.Itoa(queues)+"workers", func(t *testing.T) {
			topo := fullnatTopology(t, queues)
			socket := filepath.Join(t.TempDir(), "api.sock")
			d := startDirector(t, topo, fullnatConfig(), "--api", "unix://"+socket)
			parities := map[int]bool{}
			for _, svc := range []struct {
				proto string
				port  int
			}{{"tcp", 80}, {"udp", 7}} {
				rs := drive(t, topo, svc.proto, "198.18.0.10", svc.port, 300)
				if len(rs) != 300 {
					t.Fatalf("%s: %d responses, want 300", svc.proto, len(rs))
				}
				checkWeightShares(t, rs, weights, 5)
				for port := range checkLocalAddresses(t, rs) {
					parities[port%queues] = true
				}
			}
			time.Sleep(1100 * time.Millisecond) // one more stats line
			last := lastLines(d.output.String(), queues)
			t.Logf("director stats:\n%s", last)
			for _, bad := range []string{"reply_no_conn", "local_ports_exhausted"} {
				if strings.Contains(last, bad) {
					t.Fatalf("director dropped %s:\n%s", bad, last)
				}
			}
			if queues == 2 {
				if len(parities) != 2 {
					// The clients hash to both owners, so both workers bind ports.
					t.Fatalf("local ports of parities %v only: one worker bound every connection", parities)
				}
				if !regexp.MustCompile(`handoff [1-9][0-9]*/`).MatchString(last) {
					t.Fatalf("no frame was handed between workers:\n%s", last)
				}
				return
			}
			checkSaveRestore(t, topo, socket)
		})
	}
}

// checkSaveRestore: fastlvsadm -S lists the local addresses before the real
// servers, so -C and -R rebuild the FULLNAT services (the daemon refuses a
// fullnat real server before its service has a local address), and the
// restored services serve.
func checkSaveRestore(t *testing.T, topo *testbed.Topology, socket string) {
	t.Helper()
	adm := buildAdm(t, socket)
	saved := adm.must("-S", "-n")
	for _, proto := range []string{"-t", "-u"} {
		svc := proto + " 198.18.0.10:"
		laddr := strings.Index(saved, "-P "+svc)
		realLine := strings.Index(saved, "-a "+svc)
		if laddr < 0 || realLine < 0 || laddr > realLine {
			t.Fatalf("-S must list %s local addresses before its real servers:\n%s", svc, saved)
		}
	}
	adm.must("-C")
	adm.mustWithInput(saved, "-R")
	if got := adm.must("-S", "-n"); got != saved {
		t.Fatalf("-S -n after -S | -C | -R:\n%s\nwant\n%s", got, saved)
	}
	rs := drive(t, topo, "tcp", "198.18.0.10", 80, 30)
	checkLocalAddresses(t, rs)
}
