package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"fastlvs/testbed"
)

// TestReloadKeepsOwnersTwoWorkers: with two workers, adding a service with
// persistence and a /24 netmask by a reload moves no client of the existing
// service to another worker: 200 keep-alive connections from ten clients
// all keep working.
func TestReloadKeepsOwnersTwoWorkers(t *testing.T) {
	bed := testbed.ForTest(t, "fro")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Queues: 2, Clients: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Reals {
		s, err := r.ServeHTTP(r.Name, "0.0.0.0:8080")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	base := natConfig(real(1, 1), real(2, 1), real(3, 1))
	d := startDirector(t, topo, base)
	var conns []*keepAlive
	for i := range 200 {
		c := dialKeepAlive(t, topo.Clients[i%len(topo.Clients)], "198.18.0.10:80")
		if _, err := c.get(); err != nil {
			t.Fatalf("connection %d before the reload: %v", i, err)
		}
		conns = append(conns, c)
	}
	waitStatsLine(d)
	last := lastLines(d.output.String(), 2)
	for _, worker := range []string{"0", "1"} {
		if !regexp.MustCompile(`worker ` + worker + ` cpu \d+: .*conns +[1-9]`).MatchString(last) {
			t.Fatalf("want both workers to own some of the connections:\n%s", last)
		}
	}

	persistent := base + "  - {vip: 198.18.0.10, port: 8080, protocol: tcp, scheduler: rr, forward: nat, health_check: {type: none},\n" +
		"     persistence: 60s, persistence_netmask: 255.255.255.0,\n" +
		"     real_servers: [" + real(1, 1) + ", " + real(2, 1) + ", " + real(3, 1) + "]}\n"
	if d.reload(persistent) {
		t.Fatalf("reload refused:\n%s", d.output)
	}
	// Every connection at once, so that broken ones (each waits out its
	// 3 s deadline) fail the test in seconds, not minutes.
	var mu sync.Mutex
	failed := 0
	var first error
	for round := range 3 {
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.get(); err != nil {
					mu.Lock()
					failed++
					if first == nil {
						first = fmt.Errorf("connection %d, round %d: %w", i, round, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	t.Logf("after adding a /24-persistent service: %d of %d requests on 200 established connections failed", failed, 3*len(conns))
	if failed > 0 {
		t.Fatalf("%d requests failed on connections established before the reload; first: %v", failed, first)
	}
	// The added service answers, each client always from one real server.
	serverOf := map[string]string{}
	for _, r := range drive(t, topo, "tcp", "198.18.0.10", 8080, 40) {
		client := r.client[:strings.LastIndex(r.client, ":")]
		if s, seen := serverOf[client]; seen && s != r.server {
			t.Fatalf("client %s answered by %s and %s on a persistent service", client, s, r.server)
		}
		serverOf[client] = r.server
	}
}
