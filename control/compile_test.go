package control

import (
	"fastlvs/control/config"
	"net/netip"
	"strings"
	"testing"
	"time"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
)

func TestCompileHealthOverridesQuorumAndSorryServer(t *testing.T) {
	cfg, err := config.Parse([]byte(`interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, forward: nat, quorum: 3, sorry_server: {address: 198.18.2.99, port: 8080},
     real_servers: [{address: 198.18.2.11, weight: 2}, {address: 198.18.2.12, weight: 2},
                    {address: 198.18.2.13, weight: 1, health_check: {type: tcp, inhibit_on_failure: true}}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	key := func(addr string) RealServerKey {
		return RealServerKey{
			Service: dataplane.ServiceKey{Addr: netip.MustParseAddr("198.18.0.10").As16(), Port: 80, Proto: dataplane.ProtoTCP},
			Real:    netip.MustParseAddrPort(addr),
		}
	}
	reals := func(overrides map[RealServerKey]Override) []dataplane.RealSpec {
		spec, err := CompileTable(cfg, overrides)
		if err != nil {
			t.Fatal(err)
		}
		return spec.Services[0].Reals
	}
	if got := reals(nil); len(got) != 3 {
		t.Fatalf("all healthy: %v", got)
	}
	// A down server without inhibit_on_failure leaves; with it, stays at weight 0.
	got := reals(map[RealServerKey]Override{key("198.18.2.11:80"): {Down: true, Weight: -1}, key("198.18.2.13:80"): {Down: true, Weight: -1}})
	if len(got) != 1 || got[0].Addr.String() != "198.18.2.99" {
		t.Fatalf("live weight 2 < quorum 3 must switch to the sorry server, got %v", got)
	}
	got = reals(map[RealServerKey]Override{key("198.18.2.13:80"): {Down: true, Weight: -1}})
	if len(got) != 3 || got[2].Weight != 0 {
		t.Fatalf("inhibit_on_failure keeps the server at weight 0, got %v", got)
	}
	got = reals(map[RealServerKey]Override{key("198.18.2.11:80"): {Weight: 7}})
	if got[0].Weight != 7 {
		t.Fatalf("an exec check's weight applies, got %v", got)
	}
}

func TestHealthSpecFromConfig(t *testing.T) {
	cfg, err := config.Parse([]byte(`interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, health_check: {type: http, path: /ready, status: "200-204", warm_up: 3s, interval: 2s, timeout: 1s},
     real_servers: [{address: 198.18.2.11}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	spec := healthSpec(&cfg.Services[0].HealthCheck)
	if spec.WarmUp != 3*time.Second || spec.Path != "/ready" || spec.StatusMin != 200 || spec.StatusMax != 204 {
		t.Fatalf("health spec %+v", spec)
	}
	if _, err := config.Parse([]byte("services: [{vip: 198.18.0.10, port: 80, health_check: {warm_up: -1s}, real_servers: [{address: 198.18.2.11}]}]")); err == nil ||
		!strings.Contains(err.Error(), "services[0].health_check.warm_up: must not be negative") {
		t.Fatalf("negative warm_up: %v", err)
	}
}

func TestCompileConntrackTimeoutsAndPressure(t *testing.T) {
	cfg, err := config.Parse([]byte(`interfaces: [eth1]
conntrack:
  timeouts: {tcp: 600s, tcp_syn_recv: 10s, tcp_time_wait: 30s, icmp: 5s}
  pressure: {high_percent: 60, embryonic_timeout: 4s}
`))
	if err != nil {
		t.Fatal(err)
	}
	dp, err := CompileDataplane(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := conntrack.DefaultTimeouts()
	want.Established, want.SynRecv, want.TimeWait, want.ICMP = 600*time.Second, 10*time.Second, 30*time.Second, 5*time.Second
	if dp.Timeouts != want {
		t.Errorf("timeouts %+v, want %+v", dp.Timeouts, want)
	}
	if dp.Pressure != (conntrack.Pressure{High: 0.6, EmbryonicTimeout: 4 * time.Second}) {
		t.Errorf("pressure %+v", dp.Pressure)
	}
	// The defaults are IPVS's timeouts and conntrack's default pressure.
	def := config.DefaultConfig()
	if compileTimeouts(def.Conntrack.Timeouts) != conntrack.DefaultTimeouts() || compilePressure(def.Conntrack.Pressure) != conntrack.DefaultPressure() {
		t.Error("default configuration does not compile to the conntrack defaults")
	}
}

func TestCompileGUE(t *testing.T) {
	cfg, err := config.Parse([]byte(`interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, forward: tun, tunnel: gue, gue_port: 6080, real_servers: [{address: 198.18.2.11}]}
  - {vip: 198.18.0.10, port: 81, forward: tun, real_servers: [{address: 198.18.2.11}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := CompileTable(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := spec.Services[0]; !s.GUE || s.GUEPort != 6080 {
		t.Errorf("gue service compiled to GUE %v port %d", s.GUE, s.GUEPort)
	}
	if s := spec.Services[1]; s.GUE || s.GUEPort != 0 {
		t.Errorf("ipip service compiled to GUE %v port %d", s.GUE, s.GUEPort)
	}
}
