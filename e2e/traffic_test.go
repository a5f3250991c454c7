package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"fastlvs/testbed"
)

// response is what a real server answered: its name and the client address
// it saw.
type response struct {
	server string
	client string // ip:port as the real server saw it
}

func parseResponse(body string) (response, error) {
	name, client, ok := strings.Cut(strings.TrimSpace(body), " ")
	if !ok {
		return response{}, fmt.Errorf("malformed response %q", body)
	}
	return response{server: name, client: client}, nil
}

// request sends one request (a new TCP connection, or one UDP datagram) from
// client i of the topology to vip:port and returns what the server said.
func request(ctx context.Context, topo *testbed.Topology, i int, proto, vip string, port int) (response, error) {
	client, src := topo.Clients[i], topo.ClientAddrs[i]
	var body string
	var err error
	if proto == "tcp" {
		body, err = client.HTTPGet(ctx, fmt.Sprintf("http://%s:%d/", vip, port), src)
	} else {
		body, err = client.UDPRequest(ctx, fmt.Sprintf("%s:%d", vip, port), src, []byte("hello"), 2*time.Second)
	}
	if err != nil {
		return response{}, err
	}
	return parseResponse(body)
}

// drive sends n requests spread over every client, in parallel per client,
// and returns every response; any failure fails the test.
func drive(tb testing.TB, topo *testbed.Topology, proto, vip string, port, n int) []response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var out []response
	var errs []error
	var wg sync.WaitGroup
	for i := range topo.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < n; k += len(topo.Clients) {
				r, err := request(ctx, topo, i, proto, vip, port)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("%d of %d %s requests to %s:%d failed; first: %v", len(errs), n, proto, vip, port, errs[0])
	}
	return out
}

// shares counts responses per server name.
func shares(rs []response) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.server]++
	}
	return m
}

// checkWeightShares asserts each server's share is within tolerance
// (percentage points) of its weight share.
func checkWeightShares(tb testing.TB, rs []response, weights map[string]int, tolerance float64) {
	tb.Helper()
	total := 0
	for _, w := range weights {
		total += w
	}
	got := shares(rs)
	for name, w := range weights {
		want := 100 * float64(w) / float64(total)
		have := 100 * float64(got[name]) / float64(len(rs))
		if have < want-tolerance || have > want+tolerance {
			tb.Errorf("server %s: %.1f%% of %d responses, want %.1f%% ± %.0f (all: %v)", name, have, len(rs), want, tolerance, got)
		}
	}
	for name := range got {
		if _, ok := weights[name]; !ok {
			tb.Errorf("unexpected server %s answered (all: %v)", name, got)
		}
	}
}

// checkClientAddresses asserts the real servers saw the clients' own
// addresses (no source NAT in DR and NAT modes).
func checkClientAddresses(tb testing.TB, topo *testbed.Topology, rs []response) {
	tb.Helper()
	allowed := map[string]bool{}
	for _, a := range topo.ClientAddrs {
		allowed[a] = true
	}
	seen := map[string]bool{}
	for _, r := range rs {
		ip := r.client[:strings.LastIndex(r.client, ":")]
		if !allowed[ip] {
			tb.Fatalf("real server %s saw client address %s, want one of %v", r.server, r.client, topo.ClientAddrs)
		}
		seen[ip] = true
	}
	if len(seen) != len(topo.ClientAddrs) {
		tb.Fatalf("real servers saw clients %v, want all of %v", seen, topo.ClientAddrs)
	}
}
