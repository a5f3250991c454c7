package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"fastlvs/deploy/grafana"
	"fastlvs/testbed"
)

const (
	metricsAddr    = "127.0.0.1:9120" // inside the director's namespace
	prometheusAddr = "127.0.0.1:9129"
	warmUpPorts    = 30000 // client source ports, one per request
	measuredPorts  = 31000
)

// metricsConfig is one UDP NAT service with two real servers and no health
// checks, so that nothing but the test's requests and their replies is
// steered to the workers.
const metricsConfig = `interfaces: [eth1]
conntrack: {capacity: 4096}
services:
  - name: echo
    vip: 198.18.0.10
    port: 7
    protocol: udp
    scheduler: rr
    forward: nat
    health_check: {type: none}
    real_servers:
      - {address: 198.18.2.11, port: 7, weight: 1}
      - {address: 198.18.2.12, port: 7, weight: 1}
`

// TestMetricsCountWhatWasSent sends a known number of UDP requests through a
// NAT director started with --metrics and checks the exported counters
// against them, lints the exposition with promtool, and has a real
// Prometheus in the director's namespace scrape it and answer the
// dashboard's queries.
//
// Why the counts are exact: the steering program hands a worker (a) frames
// to a service and (b) NAT replies from a real server's address and port that
// are not addressed to the director itself. With no health checks configured
// nothing else matches — ARP and the kernel's own traffic are passed. Each
// answered request is therefore exactly one steered request and one steered
// reply: rx over all workers grows by 2 per request (a frame handed to
// another worker is counted in rx once, by the worker that received it),
// and tx by 2 (request to the real server, reply to the client). The first
// packets to a not-yet-resolved neighbour are dropped (neighbor_unresolved),
// so the measurement starts after a warm-up in which every real server and
// the client have answered.
func TestMetricsCountWhatWasSent(t *testing.T) {
	bed := testbed.ForTest(t, "fmet")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Clients: 1, Reals: 2, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(0, 7); err != nil {
		t.Fatal(err)
	}
	startDirector(t, topo, metricsConfig, "--metrics", metricsAddr)
	scraper := metricsScraper(topo)

	warmUp(t, topo)
	// A warm-up reply slower than its 300 ms timeout still arrives (and the
	// client's port-unreachable for it still goes through the director):
	// let it land before the measurement starts.
	time.Sleep(time.Second)
	before := scrape(t, scraper)

	const requests = 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vip := net.JoinHostPort(testbed.DefaultVIP, "7")
	for i := range requests {
		// A source port of its own per request: a port the kernel picked
		// twice would reuse a live connection and create none.
		src := net.JoinHostPort(topo.ClientAddrs[0], strconv.Itoa(measuredPorts+i))
		if _, err := topo.Clients[0].UDPRequest(ctx, vip, src, []byte("metrics"), 2*time.Second); err != nil {
			t.Fatalf("request %d of %d: %v", i+1, requests, err)
		}
	}
	after := scrape(t, scraper)

	const echo = `port="7",protocol="udp",service="echo",vip="198.18.0.10"`
	for _, c := range []struct {
		what, name, labels string
		want               float64
	}{
		{"frames received by the workers", "fastlvs_worker_rx_packets_total", "", 2 * requests},
		{"frames sent by the workers", "fastlvs_worker_tx_packets_total", "", 2 * requests},
		{"frames dropped by the workers", "fastlvs_worker_dropped_packets_total", "", 0},
		{"connections created", "fastlvs_worker_connections_created_total", "", requests},
		{"frames steered to the service", "fastlvs_steer_packets_total", `iface="eth1",outcome="service"`, requests},
		{"NAT replies steered", "fastlvs_steer_packets_total", `iface="eth1",outcome="nat_reply"`, requests},
		{"service connections", "fastlvs_service_connections_total", echo, requests},
		{"service packets in", "fastlvs_service_in_packets_total", echo, requests},
		{"service packets out", "fastlvs_service_out_packets_total", echo, requests},
		{"real-server packets in", "fastlvs_real_server_in_packets_total", echo, requests},
		{"real-server packets out", "fastlvs_real_server_out_packets_total", echo, requests},
		{"kernel drops on AF_XDP sockets", "fastlvs_xsk_rx_dropped_total", "", 0},
	} {
		if got := after.sum(c.name, c.labels) - before.sum(c.name, c.labels); got != c.want {
			t.Errorf("%s: %s{%s} grew by %v, want %v", c.what, c.name, c.labels, got, c.want)
		}
	}
	if workers := after.count("fastlvs_worker_rx_packets_total", `iface="all"`); workers != 2 {
		t.Errorf("%d per-worker rx rows, want 2 (one per queue)", workers)
	}
	// conntrack.capacity is split evenly over the workers' tables.
	if capacity := after.sum("fastlvs_worker_connections_capacity", ""); capacity != 4096 {
		t.Errorf("worker tables hold %v connections in all, want conntrack.capacity 4096", capacity)
	}
	if sockets := after.count("fastlvs_xsk_rx_ring_full_total", `iface="eth1"`); sockets != 2 {
		t.Errorf("%d AF_XDP socket rows on eth1, want 2 (one per queue)", sockets)
	}
	// Round robin over two real servers: each worker runs its own instance,
	// so each real server gets half the connections give or take one per
	// worker.
	for _, real := range topo.RealAddrs {
		labels := fmt.Sprintf(`service="echo",real=%q`, real)
		got := after.sum("fastlvs_real_server_connections_total", labels) - before.sum("fastlvs_real_server_connections_total", labels)
		if got < requests/2-2 || got > requests/2+2 {
			t.Errorf("real server %s: %v new connections, want %d ± 2", real, got, requests/2)
		}
	}

	t.Run("promtool", func(t *testing.T) { promtoolCheck(t, after.text) })
	t.Run("prometheus", func(t *testing.T) { prometheusIngests(t, topo, after.sum("fastlvs_worker_rx_packets_total", "")) })
}

// warmUp sends requests until every real server has answered twice in a row
// without loss, so neighbours on both sides are resolved.
func warmUp(t *testing.T, topo *testbed.Topology) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	vip := net.JoinHostPort(testbed.DefaultVIP, "7")
	answered := map[string]int{}
	for tries := 0; tries < 100 && (answered[topo.RealAddrs[0]] < 2 || answered[topo.RealAddrs[1]] < 2); tries++ {
		src := net.JoinHostPort(topo.ClientAddrs[0], strconv.Itoa(warmUpPorts+tries))
		reply, err := topo.Clients[0].UDPRequest(ctx, vip, src, []byte("warm-up"), 300*time.Millisecond)
		if err != nil {
			clear(answered)
			continue
		}
		server, _, _ := strings.Cut(reply, " ")
		switch server {
		case "r1":
			answered[topo.RealAddrs[0]]++
		case "r2":
			answered[topo.RealAddrs[1]]++
		}
	}
	if answered[topo.RealAddrs[0]] < 2 || answered[topo.RealAddrs[1]] < 2 {
		t.Fatalf("warm-up: real servers answered %v, want both twice", answered)
	}
}

// metricsScraper reads the director's metrics endpoint from inside its
// namespace.
func metricsScraper(topo *testbed.Topology) *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: topo.Director.DialContext, DisableKeepAlives: true},
	}
}

// exposition is one scrape: its text and its parsed families.
type exposition struct {
	text     string
	families map[string]*dto.MetricFamily
}

func scrape(t *testing.T, client *http.Client) exposition {
	t.Helper()
	resp, err := client.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape fastlvs: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape fastlvs: status %d, %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return exposition{text: string(body), families: families}
}

// matches reports whether m carries every name="value" pair of labels (a
// comma-separated list, "" for all).
func matches(m *dto.Metric, labels string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, pair := range strings.Split(labels, ",") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		if have[name] != strings.Trim(value, `"`) {
			return false
		}
	}
	return true
}

func (e exposition) sum(name, labels string) float64 {
	total := 0.0
	for _, m := range e.families[name].GetMetric() {
		if matches(m, labels) {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func (e exposition) count(name, labels string) int {
	n := 0
	for _, m := range e.families[name].GetMetric() {
		if matches(m, labels) {
			n++
		}
	}
	return n
}

// promtoolCheck lints the exposition as Prometheus's own tool does.
func promtoolCheck(t *testing.T, text string) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// prometheusIngests runs Prometheus in the director's namespace, scraping
// fastlvs every second, and checks that it stored the per-worker rx series
// with the value fastlvs last exported (no traffic flows meanwhile), and
// that every dashboard query is valid PromQL over the stored series.
func prometheusIngests(t *testing.T, topo *testbed.Topology, wantRx float64) {
	path, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: install the Debian package prometheus")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: fastlvs
    static_configs: [{targets: ["%s"]}]
`, metricsAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := topo.Director.Command(path, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+prometheusAddr, "--log.level=warn")
	prom, err := testbed.StartProcess(cmd)
	if err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		prom.Stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("prometheus output:\n%s", prom.Output())
		}
	})
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: topo.Director.DialContext, DisableKeepAlives: true},
	}

	var rx float64
	var series int
	deadline := time.Now().Add(20 * time.Second)
	for {
		result, err := instantQuery(client, "fastlvs_worker_rx_packets_total")
		if err == nil {
			series, rx = len(result), 0
			for _, r := range result {
				rx += r.value
				if r.metric["job"] != "fastlvs" || r.metric["iface"] != "all" || r.metric["worker"] == "" || r.metric["cpu"] == "" {
					t.Errorf("stored series lacks its labels: %v", r.metric)
				}
			}
			if series == 2 && rx == wantRx {
				break
			}
		}
		select {
		case <-prom.Exited():
			t.Fatalf("prometheus exited:\n%s", prom.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus stored %d rx series summing to %v within 20s (last error %v), want 2 summing to %v", series, rx, err, wantRx)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every dashboard query parses and evaluates; Grafana's variables are
	// replaced by what "All" and a short range would give.
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(grafana.Dashboard, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5s", "$__range", "1m", "$instance", ".*", "$service", ".*")
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			if _, err := instantQuery(client, vars.Replace(target.Expr)); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
		}
	}
}

type sample struct {
	metric map[string]string
	value  float64
}

// instantQuery asks the test's Prometheus for the vector value of query.
func instantQuery(client *http.Client, query string) ([]sample, error) {
	resp, err := client.Get("http://" + prometheusAddr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", query, answer.Error)
	}
	var out []sample
	for _, r := range answer.Data.Result {
		s := sample{metric: r.Metric}
		if text, ok := r.Value[1].(string); ok {
			fmt.Sscan(text, &s.value)
		}
		out = append(out, s)
	}
	return out, nil
}
