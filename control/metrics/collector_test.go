package metrics

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fastlvs/control/health"
	"fastlvs/dataplane"
)

const w0 = `{cpu="1",iface="all",queue="0",worker="0"}`

func TestWorkerCounters(t *testing.T) {
	got := series(t, NewRegistry(Sources{Reader: populatedReader()}))
	want := map[string]float64{
		"fastlvs_worker_rx_packets_total" + w0:                                                                  100,
		"fastlvs_worker_rx_bytes_total" + w0:                                                                    6400,
		"fastlvs_worker_tx_packets_total" + w0:                                                                  90,
		"fastlvs_worker_tx_bytes_total" + w0:                                                                    5760,
		"fastlvs_worker_handoff_in_packets_total" + w0:                                                          3,
		"fastlvs_worker_handoff_out_packets_total" + w0:                                                         4,
		"fastlvs_worker_busy_polls_total" + w0:                                                                  20,
		"fastlvs_worker_idle_polls_total" + w0:                                                                  80,
		"fastlvs_worker_connections" + w0:                                                                       5,
		"fastlvs_worker_connections_capacity" + w0:                                                              1000,
		"fastlvs_worker_connections_created_total" + w0:                                                         7,
		"fastlvs_worker_rx_batch_size_count" + w0:                                                               93,
		"fastlvs_worker_rx_batch_size_sum" + w0:                                                                 100,
		`fastlvs_worker_rx_packets_total{cpu="0",iface="all",queue="1",worker="1"}`:                             1,
		`fastlvs_worker_dropped_packets_total{cpu="1",iface="all",queue="0",reason="reply_no_conn",worker="0"}`: 6,
		`fastlvs_worker_dropped_packets_total{cpu="1",iface="all",queue="0",reason="tx_ring_full",worker="0"}`:  4,
		`fastlvs_worker_dropped_packets_total{cpu="1",iface="all",queue="0",reason="bad_ipv4",worker="0"}`:      0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	drops := 0
	for k := range got {
		if strings.HasPrefix(k, "fastlvs_worker_dropped_packets_total{") {
			drops++
		}
	}
	if drops != 2*int(dataplane.NumDrops) {
		t.Errorf("%d drop rows, want one per reason per worker (%d)", drops, 2*dataplane.NumDrops)
	}
}

func TestBatchHistogramIsCumulative(t *testing.T) {
	reader := populatedReader()
	reader.workers = reader.workers[:1]
	c := newCollector(reader, Sources{})
	want := `# HELP fastlvs_worker_rx_batch_size Frames returned per receive call on one socket; empty receives count in le=1.
# TYPE fastlvs_worker_rx_batch_size histogram
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="1"} 80
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="2"} 80
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="4"} 80
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="8"} 92
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="16"} 92
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="32"} 93
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="64"} 93
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="128"} 93
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="256"} 93
fastlvs_worker_rx_batch_size_bucket{cpu="1",iface="all",queue="0",worker="0",le="+Inf"} 93
fastlvs_worker_rx_batch_size_sum{cpu="1",iface="all",queue="0",worker="0"} 100
fastlvs_worker_rx_batch_size_count{cpu="1",iface="all",queue="0",worker="0"} 93
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "fastlvs_worker_rx_batch_size"); err != nil {
		t.Error(err)
	}
}

func TestSocketAndSteeringCounters(t *testing.T) {
	got := series(t, NewRegistry(Sources{Reader: populatedReader()}))
	want := map[string]float64{
		`fastlvs_xsk_rx_dropped_total{cpu="1",iface="eth0",queue="0",worker="0"}`:   10,
		`fastlvs_xsk_rx_dropped_total{cpu="0",iface="eth0",queue="1",worker="1"}`:   20,
		`fastlvs_xsk_rx_dropped_total{cpu="1",iface="eth1",queue="0",worker="0"}`:   30,
		`fastlvs_xsk_rx_ring_full_total{cpu="1",iface="eth1",queue="0",worker="0"}`: 15,
		`fastlvs_xsk_tx_kicks_total{cpu="1",iface="eth0",queue="0",worker="0"}`:     11,
		`fastlvs_steer_packets_total{iface="eth0",outcome="service"}`:               50,
		`fastlvs_steer_packets_total{iface="eth0",outcome="nat_reply"}`:             40,
		`fastlvs_steer_packets_total{iface="eth0",outcome="passed"}`:                9,
		`fastlvs_steer_packets_total{iface="eth1",outcome="passed_fragment"}`:       2,
		`fastlvs_steer_no_socket_packets_total{iface="eth0"}`:                       1,
		`fastlvs_metrics_read_errors_total{}`:                                       1, // the eth1 queue 1 socket
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.Contains(k, `iface="eth1",queue="1"`) {
			t.Errorf("unreadable socket still exported: %s", k)
		}
	}
}

func TestServiceAndRealServerCounters(t *testing.T) {
	c := newCollector(populatedReader(), Sources{})
	const svc = `port="53",protocol="udp",service="dns",vip="198.18.0.10"`
	want := `# HELP fastlvs_service_active_connections Active connections of the service's real servers (ActiveConn summed).
# TYPE fastlvs_service_active_connections gauge
fastlvs_service_active_connections{` + svc + `} 2
# HELP fastlvs_service_inactive_connections Inactive connections of the service's real servers (InActConn summed).
# TYPE fastlvs_service_inactive_connections gauge
fastlvs_service_inactive_connections{` + svc + `} 10
# HELP fastlvs_service_connections_total Connections scheduled for the service (ipvsadm --stats Conns).
# TYPE fastlvs_service_connections_total counter
fastlvs_service_connections_total{` + svc + `} 12
# HELP fastlvs_service_out_bytes_total Bytes from the service to clients (OutBytes).
# TYPE fastlvs_service_out_bytes_total counter
fastlvs_service_out_bytes_total{` + svc + `} 2400
# HELP fastlvs_real_server_in_packets_total Packets from clients forwarded to the real server.
# TYPE fastlvs_real_server_in_packets_total counter
fastlvs_real_server_in_packets_total{port="53",protocol="udp",real="198.18.2.11",real_port="53",service="dns",vip="198.18.0.10"} 30
fastlvs_real_server_in_packets_total{port="53",protocol="udp",real="198.18.2.12",real_port="0",service="dns",vip="198.18.0.10"} 20
# HELP fastlvs_real_server_active_connections Active connections of the real server (ActiveConn).
# TYPE fastlvs_real_server_active_connections gauge
fastlvs_real_server_active_connections{port="53",protocol="udp",real="198.18.2.11",real_port="53",service="dns",vip="198.18.0.10"} 0
fastlvs_real_server_active_connections{port="53",protocol="udp",real="198.18.2.12",real_port="0",service="dns",vip="198.18.0.10"} 2
# HELP fastlvs_real_server_weight Weight in force, after health-check overrides (0 = quiesced).
# TYPE fastlvs_real_server_weight gauge
fastlvs_real_server_weight{port="53",protocol="udp",real="198.18.2.11",real_port="53",service="dns",vip="198.18.0.10"} 1
fastlvs_real_server_weight{port="53",protocol="udp",real="198.18.2.12",real_port="0",service="dns",vip="198.18.0.10"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"fastlvs_service_active_connections", "fastlvs_service_inactive_connections", "fastlvs_service_connections_total",
		"fastlvs_service_out_bytes_total", "fastlvs_real_server_in_packets_total",
		"fastlvs_real_server_active_connections", "fastlvs_real_server_weight"); err != nil {
		t.Error(err)
	}
}

func TestHealthRowsJoinRealServerRows(t *testing.T) {
	statuses := map[string]health.Status{
		"udp/198.18.0.10:53/198.18.2.11:53":       {Up: true, LastLatency: 1500 * time.Microsecond, Checks: 40, Failures: 2},
		"udp/198.18.0.10:53/198.18.2.12:0":        {Up: false, Checks: 40, Failures: 40},
		"tcp/[2001:2::10]:80/[2001:2::2:11]:8080": {Up: true, Checks: 1},
		"not a key": {Up: true},
	}
	got := series(t, NewRegistry(Sources{Reader: populatedReader(), Health: func() map[string]health.Status { return statuses }}))
	const dns = `{port="53",protocol="udp",real="198.18.2.11",real_port="53",service="dns",vip="198.18.0.10"}`
	want := map[string]float64{
		"fastlvs_health_up" + dns:                   1,
		"fastlvs_health_latency_seconds" + dns:      0.0015,
		"fastlvs_health_checks_total" + dns:         40,
		"fastlvs_health_check_failures_total" + dns: 2,
		`fastlvs_health_up{port="53",protocol="udp",real="198.18.2.12",real_port="0",service="dns",vip="198.18.0.10"}`:           0,
		`fastlvs_health_checks_total{port="80",protocol="tcp",real="2001:2::2:11",real_port="8080",service="",vip="2001:2::10"}`: 1,
		`fastlvs_metrics_read_errors_total{}`: 2, // the bad socket and the bad key
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// The health row of a real server carries exactly its real-server row's labels.
	if _, ok := got["fastlvs_real_server_connections_total"+dns]; !ok {
		t.Errorf("no real-server row with the health row's labels %s", dns)
	}
}

func TestReloadCountersAndBuildInfo(t *testing.T) {
	reloads, failures := uint64(3), uint64(1)
	got := series(t, NewRegistry(Sources{
		Reloads:        func() uint64 { return reloads },
		ReloadFailures: func() uint64 { return failures },
	}))
	if got["fastlvs_config_reloads_total{}"] != 3 || got["fastlvs_config_reload_failures_total{}"] != 1 {
		t.Errorf("reloads %v, failures %v; want 3, 1", got["fastlvs_config_reloads_total{}"], got["fastlvs_config_reload_failures_total{}"])
	}
	found := false
	for k, v := range got {
		if strings.HasPrefix(k, "fastlvs_build_info{") && strings.Contains(k, `goversion="go`) && v == 1 {
			found = true
		}
		if strings.HasPrefix(k, "fastlvs_worker_") || strings.HasPrefix(k, "fastlvs_service_") {
			t.Errorf("no dataplane, yet %s is exported", k)
		}
	}
	if !found {
		t.Errorf("no fastlvs_build_info row with goversion in %v", slices.Sorted(maps.Keys(got)))
	}
}

// Describe and Collect must agree: every family exported from a fully
// populated reader is described, and every described family shows up.
func TestExportedNamesMatchGather(t *testing.T) {
	exported, err := ExportedNames()
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(Sources{
		Reader: populatedReader(),
		Health: func() map[string]health.Status {
			return map[string]health.Status{"udp/198.18.0.10:53/198.18.2.11:53": {}}
		},
		Reloads:        func() uint64 { return 0 },
		ReloadFailures: func() uint64 { return 0 },
		Sync:           func() SyncSample { return SyncSample{Bad: map[string]uint64{"replay": 0}} },
	})
	gathered := map[string]bool{}
	for k := range series(t, reg) {
		name := k[:strings.IndexByte(k, '{')]
		gathered[name] = true
		if !slices.Contains(exported, name) {
			t.Errorf("%s is gathered but not in ExportedNames", name)
		}
	}
	for _, name := range exported {
		if strings.HasPrefix(name, "fastlvs_") && !strings.HasSuffix(name, "_bucket") && !gathered[name] {
			t.Errorf("%s is described but a populated reader does not export it", name)
		}
	}
}

// The families follow Prometheus's naming rules (units, _total on
// counters, no reserved suffixes), as promtool would check them.
func TestCollectorPassesLint(t *testing.T) {
	c := newCollector(populatedReader(), Sources{
		Health: func() map[string]health.Status {
			return map[string]health.Status{"udp/198.18.0.10:53/198.18.2.11:53": {}}
		},
	})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// A registry built from a collector whose descriptors clash would panic;
// building two side by side must not.
func TestRegistriesAreIndependent(t *testing.T) {
	a := NewRegistry(Sources{Reader: populatedReader()})
	b := NewRegistry(Sources{Reader: &fakeReader{}})
	if _, err := a.Gather(); err != nil {
		t.Fatal(err)
	}
	got := series(t, b)
	if _, ok := got["fastlvs_worker_rx_packets_total"+w0]; ok {
		t.Error("an empty reader exported a worker row")
	}
	var regErr prometheus.AlreadyRegisteredError
	if err := a.Register(newCollector(nil, Sources{})); !errors.As(err, &regErr) {
		t.Errorf("registering a second fastlvs collector: %v, want AlreadyRegisteredError", err)
	}
}

func TestSyncCounters(t *testing.T) {
	got := series(t, NewRegistry(Sources{Sync: func() SyncSample {
		return SyncSample{DatagramsSent: 5, DatagramsReceived: 4, RecordsApplied: 30, SendErrors: 1, InFull: 2,
			Bad: map[string]uint64{"bad_mac": 3, "replay": 1}}
	}}))
	for name, want := range map[string]float64{
		"fastlvs_sync_datagrams_sent_total{}":                5,
		"fastlvs_sync_datagrams_received_total{}":            4,
		"fastlvs_sync_records_applied_total{}":               30,
		"fastlvs_sync_send_errors_total{}":                   1,
		"fastlvs_sync_in_ring_full_total{}":                  2,
		`fastlvs_sync_bad_datagrams_total{reason="bad_mac"}`: 3,
		`fastlvs_sync_bad_datagrams_total{reason="replay"}`:  1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
