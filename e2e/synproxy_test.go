package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

// synproxyConfig is one SYN-proxied NAT HTTP service over three real servers.
const synproxyConfig = `interfaces: [eth1]
conntrack: {capacity: 65536}
services:
  - name: web
    vip: 198.18.0.10
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    synproxy: true
    health_check: {type: none}
    real_servers:
      - {address: 198.18.2.11, port: 80, weight: 1}
      - {address: 198.18.2.12, port: 80, weight: 1}
      - {address: 198.18.2.13, port: 80, weight: 1}
`

// floodSources are the forged addresses hping3 sends from: inside the
// benchmarking range, used by no host of the topology.
var floodSources = []string{"198.18.200.1", "198.18.200.2", "198.18.200.3", "198.18.200.4"}

// TestSynProxyUnderSYNFlood: hping3 floods the VIP with forged SYNs for ten
// seconds while a client opens 300 real HTTP connections through a
// SYN-proxied NAT service. At least 99% of them succeed, the real servers
// never hold a half-open connection (the flood never reaches them), and the
// cookie counters account for the flood.
func TestSynProxyUnderSYNFlood(t *testing.T) {
	bed := testbed.ForTest(t, "fspx")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 0); err != nil {
		t.Fatal(err)
	}
	d := startDirector(t, topo, synproxyConfig, "--metrics", metricsAddr)
	scraper := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: topo.Director.DialContext, DisableKeepAlives: true},
	}
	// Before the flood: the proxy serves a plain request.
	if rs := drive(t, topo, "tcp", testbed.DefaultVIP, 80, 6); len(rs) != 6 {
		t.Fatalf("%d of 6 requests answered before the flood", len(rs))
	}
	before := scrape(t, scraper)

	// The flood: forged SYNs from client c2 (so its kernel, which never
	// opened them, ignores the cookie SYN/ACKs), bounded in time and count.
	flooder := topo.Clients[1]
	var floods []*testbed.Process
	for _, src := range floodSources {
		p, err := testbed.StartProcess(flooder.Command("timeout", "10", "hping3", "-S", "-p", "80", "-a", src,
			"-c", "2000000", "--flood", "-q", testbed.DefaultVIP))
		if err != nil {
			t.Fatalf("start hping3: %v", err)
		}
		floods = append(floods, p)
	}
	t.Cleanup(func() {
		for _, p := range floods {
			p.Stop(syscall.SIGINT, 2*time.Second)
		}
	})
	time.Sleep(500 * time.Millisecond) // the flood is under way

	// Meanwhile: 300 real connections from client c1, and a watch on the
	// real servers for half-open connections.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var halfOpen atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for ctx.Err() == nil {
			for _, r := range topo.Reals {
				// A proxied connection's own handshake may be caught
				// half-open for a moment; a forged one would stay.
				out, _ := r.Run("ss", "-Htan", "state", "syn-recv")
				halfOpen.Add(int64(strings.Count(string(out), "198.18.200.")))
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	const connections = 300
	var ok atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for worker := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := worker; i < connections; i += 6 {
				reqCtx, reqCancel := context.WithTimeout(ctx, 10*time.Second) // three SYN retransmissions
				_, err := topo.Clients[0].HTTPGet(reqCtx, fmt.Sprintf("http://%s/", testbed.DefaultVIP), topo.ClientAddrs[0])
				reqCancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, p := range floods {
		<-p.Exited()
	}
	cancel()
	<-watchDone
	after := scrape(t, scraper)
	t.Logf("director:\n%s", lastLines(d.output.String(), 2))

	if got := ok.Load(); got < connections*99/100 {
		t.Fatalf("%d of %d connections succeeded during the flood (want ≥ 99%%); first error: %v", got, connections, firstErr)
	}
	if n := halfOpen.Load(); n != 0 {
		t.Fatalf("the real servers held %d half-open connections during the flood: forged SYNs reached them", n)
	}
	cookies := after.sum("fastlvs_worker_synproxy_cookies_sent_total", "") - before.sum("fastlvs_worker_synproxy_cookies_sent_total", "")
	valid := after.sum("fastlvs_worker_synproxy_cookies_valid_total", "") - before.sum("fastlvs_worker_synproxy_cookies_valid_total", "")
	established := after.sum("fastlvs_worker_synproxy_established_total", "") - before.sum("fastlvs_worker_synproxy_established_total", "")
	t.Logf("during the flood: %v cookie SYN/ACKs sent, %v cookies validated, %v proxied connections established", cookies, valid, established)
	if cookies < 10*connections {
		t.Fatalf("only %v cookie SYN/ACKs: the flood did not reach the proxy", cookies)
	}
	if valid != float64(ok.Load()) || established != valid {
		t.Fatalf("%v valid cookies and %v established, want one per successful connection (%d)", valid, established, ok.Load())
	}
	// The flood left no connection behind: only the real ones were created.
	created := after.sum("fastlvs_worker_connections_created_total", "") - before.sum("fastlvs_worker_connections_created_total", "")
	if created != valid {
		t.Fatalf("%v connections created during the flood, want only the %v proxied ones", created, valid)
	}
}
