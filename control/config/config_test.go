package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseConfigFullExample(t *testing.T) {
	text, err := os.ReadFile("../testdata/config/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(text)
	if err != nil {
		t.Fatalf("full example refused: %v", err)
	}
	if !slices.Equal(cfg.Interfaces, []string{"eth1", "eth2"}) || cfg.Workers != 2 || !slices.Equal(cfg.CPUs, []int{0, 1}) {
		t.Errorf("globals: interfaces %v workers %d cpus %v", cfg.Interfaces, cfg.Workers, cfg.CPUs)
	}
	if cfg.API != "tcp://127.0.0.1:9121" || cfg.APIToken != "6f1c0e3a9b2d4c7e8f5a1b3c9d2e4f6a" || cfg.APITLS.CertFile != "/etc/fastlvs/api.crt" || cfg.UMEMFrames != 8192 || cfg.RingSize != 1024 || cfg.XDPMode != "native" || cfg.AFXDPBind != "auto" || cfg.WorkerPriority != "fifo:20" {
		t.Errorf("globals: %+v", cfg)
	}
	wantConntrack := ConntrackConfig{Capacity: 2097152,
		Timeouts: ConntrackTimeouts{TCP: 600 * time.Second, TCPFin: time.Minute, UDP: 2 * time.Minute,
			TCPSynSent: 100 * time.Second, TCPSynRecv: 30 * time.Second, TCPTimeWait: 90 * time.Second, TCPClose: 5 * time.Second,
			TCPCloseWait: 50 * time.Second, TCPLastAck: 20 * time.Second, TCPListen: 110 * time.Second, TCPSynAck: 80 * time.Second,
			TCPNone: time.Second, ICMP: 40 * time.Second},
		Pressure: ConntrackPressure{HighPercent: 80, EmbryonicTimeout: 2 * time.Second}}
	if cfg.Conntrack != wantConntrack || !cfg.Options.ExpireNodestConn || !cfg.Options.ExpireQuiescentTemplate {
		t.Errorf("conntrack %+v options %+v", cfg.Conntrack, cfg.Options)
	}
	if len(cfg.Services) != 5 {
		t.Fatalf("got %d services, want 5", len(cfg.Services))
	}

	web := cfg.Services[0]
	if web.VIP != netip.MustParseAddr("198.18.0.10") || web.Port != 80 || web.Protocol != "tcp" || web.Scheduler != "wlc" || web.Forward != "dr" {
		t.Errorf("web: %v", web)
	}
	wantCheck := HealthCheckConfig{Type: "http", Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 2,
		Path: "/healthz", Status: "200-299", BodyRegex: "ok", Host: "www.example.test", InhibitOnFailure: true, WarmUp: time.Second}
	if web.HealthCheck != wantCheck {
		t.Errorf("web check %+v, want %+v", web.HealthCheck, wantCheck)
	}
	if web.DrainTimeout != 30*time.Second || cfg.Sync.Peer != "198.18.2.3:8848" || cfg.Notify.Webhook == "" || cfg.Options.SloppyTCP {
		t.Errorf("drain %v sync %+v notify %+v options %+v", web.DrainTimeout, cfg.Sync, cfg.Notify, cfg.Options)
	}
	if cfg.Monitor != (MonitorConfig{Listen: "0.0.0.0:9443", UsersFile: "/etc/fastlvs/monitor-users", CertFile: "/etc/fastlvs/monitor.crt", KeyFile: "/etc/fastlvs/monitor.key"}) {
		t.Errorf("monitor %+v", cfg.Monitor)
	}
	wantOverflow := OverflowConfig{To: netip.MustParseAddr("198.18.9.1"), High: 1.1, Low: 0.7, Capacity: 1500, Tunnel: "gue", GUEPort: 6080}
	if web.Overflow == nil || *web.Overflow != wantOverflow {
		t.Errorf("web overflow %+v, want %+v", web.Overflow, wantOverflow)
	}
	if a := cfg.OverflowAccept; a == nil || len(a.From) != 2 || a.From[1] != netip.MustParseAddr("198.18.9.2") || a.GUEPort != 6080 {
		t.Errorf("overflow_accept %+v", cfg.OverflowAccept)
	}
	if web.SorryServer == nil || *web.SorryServer != (SorryServerConfig{Address: netip.MustParseAddr("198.18.2.99"), Port: 80}) || web.Quorum != 2 {
		t.Errorf("web sorry server %+v quorum %d", web.SorryServer, web.Quorum)
	}
	first := web.RealServers[0]
	if first.Weight != 3 || first.UpperThreshold != 1000 || first.LowerThreshold != 800 || first.HealthCheck != nil {
		t.Errorf("web real server 0: %+v", first)
	}
	second := web.RealServers[1]
	if second.Port != 80 {
		t.Errorf("real server port 0 should become the service port, got %d", second.Port)
	}
	// The override names another type: it keeps the service's timing, not its http fields.
	wantOverride := HealthCheckConfig{Type: "tcp", Port: 8080, Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 2, InhibitOnFailure: true}
	if got := web.RealServerCheck(1); got != wantOverride {
		t.Errorf("override check %+v, want %+v", got, wantOverride)
	}
	if got := web.RealServerCheck(0); got != wantCheck {
		t.Errorf("inherited check %+v", got)
	}

	api := cfg.Services[1]
	wantLocal := []netip.Addr{netip.MustParseAddr("198.18.3.1"), netip.MustParseAddr("198.18.3.2")}
	if api.Forward != "fullnat" || !slices.Equal(api.LocalAddresses, wantLocal) || api.SynProxy || api.MaglevTableSize != 251 || !slices.Equal(api.Flags, []string{"mh-port"}) {
		t.Errorf("api-tls: %+v", api)
	}
	if api.HealthCheck.Rise != 2 || api.HealthCheck.Fall != 3 || api.HealthCheck.SNI != "api.example.test" {
		t.Errorf("api-tls check keeps defaults for unset fields: %+v", api.HealthCheck)
	}

	dns := cfg.Services[2]
	if dns.Protocol != "udp" || dns.RealServers[1].Weight != 0 || dns.HealthCheck.DNSName != "example.test" {
		t.Errorf("dns: %+v", dns)
	}

	sticky := cfg.Services[3]
	if sticky.Port != 0 || sticky.Persistence != 30*time.Minute || sticky.PersistencePrefix != 24 || sticky.RealServers[0].Port != 0 {
		t.Errorf("sticky: %+v", sticky)
	}

	v6 := cfg.Services[4]
	if v6.Persistence != 360*time.Second || v6.PersistencePrefix != 64 || !v6.VIP.Is6() || v6.RealServers[1].Address != netip.MustParseAddr("2001:2:0:2::3") {
		t.Errorf("v6: %+v", v6)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
services:
  - vip: 198.18.0.10
    port: 80
    real_servers: [{address: 198.18.2.2}]
  - vip: 198.18.0.10
    port: 53
    protocol: udp
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != DefaultAPI || cfg.Metrics != DefaultMetrics || cfg.Workers != 0 || cfg.UMEMFrames != 4096 || cfg.RingSize != 2048 ||
		cfg.XDPMode != "auto" || cfg.WorkerPriority != "nice:-10" || cfg.Conntrack.Capacity != 1<<20 || cfg.Conntrack.Timeouts.TCP != 900*time.Second {
		t.Errorf("global defaults: %+v", cfg)
	}
	web := cfg.Services[0]
	if web.Name != "tcp-198.18.0.10-80" || web.Protocol != "tcp" || web.Scheduler != "wlc" || web.Forward != "dr" || web.PersistencePrefix != 32 {
		t.Errorf("service defaults: %+v", web)
	}
	wantCheck := HealthCheckConfig{Type: "tcp", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}
	if web.HealthCheck != wantCheck {
		t.Errorf("check defaults %+v, want %+v", web.HealthCheck, wantCheck)
	}
	if server := web.RealServers[0]; server.Weight != 1 || server.Port != 80 {
		t.Errorf("real server defaults: %+v", server)
	}
	if udp := cfg.Services[1]; udp.HealthCheck.Type != "udp" || udp.Name != "udp-198.18.0.10-53" {
		t.Errorf("udp service defaults: %+v", udp)
	}

	empty, err := Parse(nil)
	if err != nil {
		t.Fatalf("empty document: %v", err)
	}
	if want := DefaultConfig(); empty.API != want.API || empty.Conntrack != want.Conntrack || len(empty.Services) != 0 {
		t.Errorf("empty document: %+v", empty)
	}
}

func TestParseConfigAcceptsAlternativeForms(t *testing.T) {
	cfg, err := Parse([]byte(`
workers: auto
services:
  - vip: 198.18.0.10
    port: 443
    persistence: 600          # plain seconds
    persistence_netmask: 16   # prefix length for IPv4 too
    health_check: {interval: 10, timeout: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	service := cfg.Services[0]
	if cfg.Workers != 0 || service.Persistence != 10*time.Minute || service.PersistencePrefix != 16 ||
		service.HealthCheck.Interval != 10*time.Second || service.HealthCheck.Timeout != 3*time.Second {
		t.Errorf("got workers %d service %+v", cfg.Workers, service)
	}
}

// Every refusal is one line: the field path in the document, then the reason.
func TestParseConfigRejects(t *testing.T) {
	const service = "services:\n  - {vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2}]}\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown top-level key", "metric: 1.2.3.4:1\n", "metric: unknown key (did you mean metrics?)"},
		{"unknown service key", "services: [{vip: 198.18.0.10, port: 80, schedular: rr}]", "services[0].schedular: unknown key (did you mean scheduler?)"},
		{"unknown real server key", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, wieght: 2}]}]",
			"services[0].real_servers[0].wieght: unknown key (did you mean weight?)"},
		{"unknown check key", "services: [{vip: 198.18.0.10, port: 80, health_check: {kind: tcp}}]", "services[0].health_check.kind: unknown key"},
		{"bad vip", "services: [{vip: 198.18.0.10, port: 80}, {vip: 198.18.0.300, port: 80}]", `services[1].vip: "198.18.0.300" is not an IP address`},
		{"vip missing", "services: [{port: 80}]", "services[0].vip: required"},
		{"multicast vip", "services: [{vip: 224.0.0.1, port: 80}]", "services[0].vip: 224.0.0.1 is not a unicast address"},
		{"port not a number", "services: [{vip: 198.18.0.10, port: http}]", `services[0].port: "http" is not an integer`},
		{"port too big", "services: [{vip: 198.18.0.10, port: 70000}]", "services[0].port: must be between 0 and 65535 (got 70000)"},
		{"port 0 without persistence", "services: [{vip: 198.18.0.10, port: 0}]", "services[0].port: 0 (all ports) needs persistence"},
		{"unknown scheduler", "services: [{vip: 198.18.0.10, port: 80, scheduler: foo}]",
			`services[0].scheduler: unknown scheduler "foo" (want one of rr, wrr, lc, wlc, sed, nq, fo, ovf, lblc, lblcr, dh, sh, mh, twos)`},
		{"unknown protocol", "services: [{vip: 198.18.0.10, port: 80, protocol: sctp}]", `services[0].protocol: unknown protocol "sctp" (want one of tcp, udp)`},
		{"unknown forward", "services: [{vip: 198.18.0.10, port: 80, forward: snat}]",
			`services[0].forward: unknown forwarding method "snat" (want one of dr, nat, fullnat, tun)`},
		{"flag of another scheduler", "services: [{vip: 198.18.0.10, port: 80, scheduler: mh, flags: [sh-port]}]",
			"services[0].flags[0]: sh-port applies only to scheduler sh (service uses mh)"},
		{"unknown flag", "services: [{vip: 198.18.0.10, port: 80, scheduler: sh, flags: [fast]}]",
			`services[0].flags[0]: unknown flag "fast" (want one of sh-fallback, sh-port, mh-fallback, mh-port)`},
		{"weight negative", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2}, {address: 198.18.2.3}, {address: 198.18.2.4, weight: -1}]}]",
			"services[0].real_servers[2].weight: must be between 0 and 65535 (got -1)"},
		{"weight too big", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, weight: 65536}]}]",
			"services[0].real_servers[0].weight: must be between 0 and 65535 (got 65536)"},
		{"thresholds reversed", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 10, lower_threshold: 20}]}]",
			"services[0].real_servers[0].lower_threshold: must not exceed upper_threshold 10 (got 20)"},
		{"lower threshold alone", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, lower_threshold: 20}]}]",
			"services[0].real_servers[0].lower_threshold: needs upper_threshold"},
		{"duplicate service", service + "  - {vip: 198.18.0.10, port: 80}\n", "services[1]: duplicate service tcp 198.18.0.10:80 (same as services[0])"},
		{"same vip and port on udp is fine, same name is not", service + "  - {name: tcp-198.18.0.10-80, vip: 198.18.0.10, port: 80, protocol: udp}\n",
			`services[1].name: duplicate name "tcp-198.18.0.10-80" (same as services[0])`},
		{"duplicate real server", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2}, {address: 198.18.2.2, port: 80}]}]",
			"services[0].real_servers[1]: duplicate real server 198.18.2.2:80 (same as real_servers[0])"},
		{"mixed families", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: '2001:2::2'}]}]",
			"services[0].real_servers[0].address: 2001:2::2 is not of the vip's address family (mixing IPv4 and IPv6 is not supported)"},
		{"dr changes port", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, port: 8080}]}]",
			"services[0].real_servers[0].port: forward dr cannot change the port (got 8080, service port 80)"},
		{"local addresses without fullnat", "services: [{vip: 198.18.0.10, port: 80, forward: nat, local_addresses: [198.18.3.1]}]",
			"services[0].local_addresses: only for forward fullnat (service uses nat)"},
		{"tunnel without tun", "services: [{vip: 198.18.0.10, port: 80, forward: nat, tunnel: gue, gue_port: 6080}]",
			"services[0].tunnel: only for forward tun (service uses nat)"},
		{"unknown tunnel", "services: [{vip: 198.18.0.10, port: 80, forward: tun, tunnel: gre}]",
			`services[0].tunnel: unknown tunnel "gre" (want ipip or gue)`},
		{"gue without port", "services: [{vip: 198.18.0.10, port: 80, forward: tun, tunnel: gue}]",
			"services[0].gue_port: required for tunnel gue: the real servers' GUE port, 1-65535 (got 0)"},
		{"gue port out of range", "services: [{vip: 198.18.0.10, port: 80, forward: tun, tunnel: gue, gue_port: 70000}]",
			"services[0].gue_port: required for tunnel gue: the real servers' GUE port, 1-65535 (got 70000)"},
		{"gue port without gue", "services: [{vip: 198.18.0.10, port: 80, forward: tun, gue_port: 6080}]",
			"services[0].gue_port: only for tunnel gue"},
		{"overflow without to", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {high: 1.2}}]",
			"services[0].overflow.to: required"},
		{"overflow to its own vip", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.0.10}}]",
			"services[0].overflow.to: 198.18.0.10 is this service's own VIP: name the other site's director"},
		{"overflow to a real server", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.2.2}}]",
			"services[0].overflow.to: 198.18.2.2 is real_servers[0]: name the other site's director"},
		{"overflow low above high", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, high: 1.0, low: 1.0}}]",
			"services[0].overflow.low: must be positive and below high 1 (got 1): the gap keeps the state from flapping"},
		{"overflow default low above high", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, high: 0.5}}]",
			"services[0].overflow.low: must be positive and below high 0.5 (got 0.7): the gap keeps the state from flapping"},
		{"overflow high not a number", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, high: lots}}]",
			`services[0].overflow.high: "lots" is not a number`},
		{"overflow without capacity or thresholds", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2}], overflow: {to: 198.18.9.1}}]",
			"services[0].overflow.capacity: required: real_servers[0] has no upper_threshold to derive it from"},
		{"overflow negative capacity", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, capacity: -1}}]",
			"services[0].overflow.capacity: must not be negative (got -1)"},
		{"overflow gue without port", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, tunnel: gue}}]",
			"services[0].overflow.gue_port: required for tunnel gue: the other site's overflow_accept.gue_port, 1-65535 (got 0)"},
		{"overflow unknown tunnel", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, tunnel: gre}}]",
			`services[0].overflow.tunnel: unknown tunnel "gre" (want ipip or gue)`},
		{"overflow gue port without gue", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, upper_threshold: 5}], overflow: {to: 198.18.9.1, gue_port: 6080}}]",
			"services[0].overflow.gue_port: only for tunnel gue"},
		{"overflow of a synproxy service", "services: [{vip: 198.18.0.10, port: 80, forward: nat, synproxy: true, real_servers: [{address: 198.18.2.2}], overflow: {to: 198.18.9.1, capacity: 10}}]",
			"services[0].overflow: cannot shed a synproxy service's connections (the director answers their handshake itself)"},
		{"overflow_accept without peers", "overflow_accept: {gue_port: 6080}",
			"overflow_accept.from: at least one peer director is needed (tunnels from anyone else are refused)"},
		{"overflow_accept bad peer", "overflow_accept: {from: [198.18.9.1, 0.0.0.0]}",
			"overflow_accept.from[1]: 0.0.0.0 is not a unicast address"},
		{"overflow_accept duplicate peer", "overflow_accept: {from: [198.18.9.1, 198.18.9.1]}",
			"overflow_accept.from[1]: duplicate peer 198.18.9.1"},
		{"overflow_accept gue port out of range", "overflow_accept: {from: [198.18.9.1], gue_port: 70000}",
			"overflow_accept.gue_port: must be between 0 and 65535 (got 70000)"},
		{"fullnat without local addresses", "services: [{vip: 198.18.0.10, port: 80, forward: fullnat}]",
			"services[0].local_addresses: required for forward fullnat"},
		{"bad local address", "services: [{vip: 198.18.0.10, port: 80, forward: fullnat, local_addresses: [198.18.3.1, nope]}]",
			`services[0].local_addresses[1]: "nope" is not an IP address`},
		{"maglev size not prime", "services: [{vip: 198.18.0.10, port: 80, scheduler: mh, maglev_table_size: 256}]",
			"services[0].maglev_table_size: must be a prime up to 4194304 (got 256)"},
		{"maglev size without mh", "services: [{vip: 198.18.0.10, port: 80, maglev_table_size: 251}]",
			"services[0].maglev_table_size: applies only to scheduler mh (service uses wlc)"},
		{"synproxy on dr", "services: [{vip: 198.18.0.10, port: 80, synproxy: true}]",
			"services[0].synproxy: needs forward nat or fullnat (the director must see the replies), not dr"},
		{"synproxy on udp", "services: [{vip: 198.18.0.10, port: 53, protocol: udp, forward: nat, synproxy: true, real_servers: [{address: 198.18.2.2}]}]",
			"services[0].synproxy: applies only to tcp services"},
		{"client_address unknown", "services: [{vip: 198.18.0.10, port: 80, forward: fullnat, local_addresses: [198.18.3.1], client_address: proxy_v3}]",
			"services[0].client_address: unknown client address way \"proxy_v3\" (want none, toa, proxy_v1 or proxy_v2)"},
		{"client_address on nat", "services: [{vip: 198.18.0.10, port: 80, forward: nat, client_address: proxy_v2}]",
			"services[0].client_address: applies only to forward fullnat (the real server sees the client otherwise), not nat"},
		{"client_address on udp", "services: [{vip: 198.18.0.10, port: 53, protocol: udp, forward: fullnat, local_addresses: [198.18.3.1], client_address: proxy_v1}]",
			"services[0].client_address: proxy_v1 applies only to tcp services (udp takes proxy_v2)"},
		{"netmask without persistence", "services: [{vip: 198.18.0.10, port: 80, persistence_netmask: 255.255.255.0}]",
			"services[0].persistence_netmask: needs persistence"},
		{"netmask not contiguous", "services: [{vip: 198.18.0.10, port: 80, persistence: 60s, persistence_netmask: 255.0.255.0}]",
			`services[0].persistence_netmask: "255.0.255.0" is not a contiguous netmask`},
		{"ipv6 dotted netmask", "services: [{vip: '2001:2::10', port: 80, persistence: 60s, persistence_netmask: 255.255.255.0}]",
			`services[0].persistence_netmask: "255.255.255.0" is not a prefix length (IPv6 services take e.g. 64)`},
		{"bad persistence", "services: [{vip: 198.18.0.10, port: 80, persistence: forever}]",
			`services[0].persistence: "forever" is not a duration (e.g. 300s) or true`},
		{"bad check type", "services: [{vip: 198.18.0.10, port: 80, health_check: {type: smtp}}]",
			`services[0].health_check.type: unknown type "smtp" (want one of tcp, http, https, udp, icmp, dns, exec, none)`},
		{"timeout not below interval", "services: [{vip: 198.18.0.10, port: 80, health_check: {interval: 1s, timeout: 1s}}]",
			"services[0].health_check.timeout: must be shorter than interval 1s (got 1s)"},
		{"zero interval", "services: [{vip: 198.18.0.10, port: 80, health_check: {interval: 0s}}]",
			"services[0].health_check.interval: must be positive (got 0s)"},
		{"bad duration", "services: [{vip: 198.18.0.10, port: 80, health_check: {interval: soon}}]",
			`services[0].health_check.interval: "soon" is not a duration (e.g. 2s, 500ms)`},
		{"rise zero", "services: [{vip: 198.18.0.10, port: 80, health_check: {rise: 0}}]", "services[0].health_check.rise: must be at least 1 (got 0)"},
		{"fall zero", "services: [{vip: 198.18.0.10, port: 80, health_check: {fall: 0}}]", "services[0].health_check.fall: must be at least 1 (got 0)"},
		{"path on tcp check", "services: [{vip: 198.18.0.10, port: 80, health_check: {path: /x}}]",
			"services[0].health_check.path: applies only to type http or https (check type is tcp)"},
		{"exec without command", "services: [{vip: 198.18.0.10, port: 80, health_check: {type: exec}}]",
			"services[0].health_check.command: required for type exec"},
		{"bad status", "services: [{vip: 198.18.0.10, port: 80, health_check: {type: http, status: 2xx}}]",
			`services[0].health_check.status: "2xx" is not a status code list (e.g. 200-399 or 200,301)`},
		{"bad body regex", "services: [{vip: 198.18.0.10, port: 80, health_check: {type: http, body_regex: '(ok'}}]",
			"services[0].health_check.body_regex: \"(ok\" does not compile: error parsing regexp: missing closing ): `(ok`"},
		{"bad override", "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.2, health_check: {rise: 0}}]}]",
			"services[0].real_servers[0].health_check.rise: must be at least 1 (got 0)"},
		{"sorry server of another family", "services: [{vip: 198.18.0.10, port: 80, sorry_server: {address: '2001:2::99'}}]",
			"services[0].sorry_server.address: 2001:2::99 is not of the vip's address family"},
		{"negative quorum", "services: [{vip: 198.18.0.10, port: 80, quorum: -1}]", "services[0].quorum: must not be negative (got -1)"},
		{"services not a list", "services: {vip: 198.18.0.10}", "services: must be a list (got a mapping)"},
		{"service not a mapping", "services: [198.18.0.10]", "services[0]: must be a mapping (got a string)"},
		{"workers word", "workers: many", `workers: "many" is not an integer or "auto"`},
		{"workers negative", "workers: -2", `workers: must be "auto" or at least 1 (got -2)`},
		{"three interfaces", "interfaces: [a, b, c]", "interfaces: at most 2 interfaces (one-arm or two-arm director), got 3"},
		{"duplicate interface", "interfaces: [eth1, eth1]", `interfaces[1]: duplicate interface "eth1"`},
		{"duplicate cpu", "cpus: [1, 1]", "cpus[1]: duplicate cpu 1"},
		{"vlan of no attached interface", "interfaces: [eth1]\nvlans: [{interface: eth2, id: 100, device: v100}]",
			`vlans[0].interface: "eth2" is not one of interfaces [eth1]`},
		{"vlan id 0", "interfaces: [eth1]\nvlans: [{interface: eth1, id: 0, device: v100}]", "vlans[0].id: must be between 1 and 4094 (got 0)"},
		{"vlan id 4095", "interfaces: [eth1]\nvlans: [{interface: eth1, id: 4095, device: v100}]", "vlans[0].id: must be between 1 and 4094 (got 4095)"},
		{"vlan without device", "interfaces: [eth1]\nvlans: [{interface: eth1, id: 100}]", `vlans[0].device: "" is not an interface name`},
		{"vlan device attached", "interfaces: [eth1, eth2]\nvlans: [{interface: eth1, id: 100, device: eth2}]",
			`vlans[0].device: "eth2" is an attached interface, not a VLAN's device`},
		{"vlan twice", "interfaces: [eth1]\nvlans: [{interface: eth1, id: 100, device: a}, {interface: eth1, id: 100, device: b}]",
			"vlans[1].id: VLAN 100 of eth1 named twice (same as vlans[0])"},
		{"vlan device twice", "interfaces: [eth1]\nvlans: [{interface: eth1, id: 100, device: a}, {interface: eth1, id: 200, device: a}]",
			`vlans[1].device: device "a" named twice (same as vlans[0])`},
		{"vlan unknown key", "interfaces: [eth1]\nvlans: [{interface: eth1, vid: 100, device: a}]", "vlans[0].vid: unknown key (did you mean id?)"},
		{"api scheme", "api: http://127.0.0.1:1", `api: "http://127.0.0.1:1" is not unix:///path or tcp://host:port`},
		{"tcp api without token", "api: tcp://127.0.0.1:9121", "api_token: required when the api listens on tcp"},
		{"short api token", "api: tcp://127.0.0.1:9121\napi_token: s3cret", "api_token: 6 bytes is too short to resist guessing: at least 32"},
		{"api_tls without key", "api: tcp://127.0.0.1:9121\napi_token: " + strings.Repeat("t", 32) + "\napi_tls: {cert_file: /c}", "api_tls.key_file: required with api_tls.cert_file"},
		{"api_tls on a unix api", "api: unix:///run/x.sock\napi_tls: {cert_file: /c, key_file: /k}", "api_tls: only for an api on tcp://"},
		{"metrics without port", "metrics: 127.0.0.1", `metrics: "127.0.0.1" is not host:port (address 127.0.0.1: missing port in address)`},
		{"ring size not power of two", "ring_size: 1000", "ring_size: must be a power of two between 64 and 32768 (got 1000)"},
		{"umem frames too few", "umem_frames: 2048", "umem_frames: must be at least twice ring_size so the fill and tx rings both fit (got 2048, ring_size 2048)"},
		{"worker priority word", "worker_priority: high", `worker_priority: "high" is not normal, nice:<-20..19> or fifo:<1..99>`},
		{"worker priority nice", "worker_priority: nice:-21", "worker_priority: nice level -21 is outside -20..19"},
		{"worker priority fifo", "worker_priority: fifo:0", "worker_priority: fifo priority 0 is outside 1..99"},
		{"xdp mode", "xdp_mode: offload", `xdp_mode: unknown mode "offload" (want one of auto, native, generic)`},
		{"af_xdp bind", "af_xdp_bind: zero-copy", `af_xdp_bind: unknown mode "zero-copy" (want copy, zerocopy or auto)`},
		{"conntrack capacity", "conntrack: {capacity: 0}", "conntrack.capacity: must be at least 1 (got 0)"},
		{"conntrack timeout", "conntrack: {timeouts: {tcpfin: 0s}}", "conntrack.timeouts.tcpfin: must be positive"},
		{"conntrack syn_recv timeout", "conntrack: {timeouts: {tcp_syn_recv: -1s}}", "conntrack.timeouts.tcp_syn_recv: must be positive"},
		{"conntrack pressure mark", "conntrack: {pressure: {high_percent: 101}}", "conntrack.pressure.high_percent: must be between 1 and 100 (got 101)"},
		{"conntrack embryonic timeout", "conntrack: {pressure: {embryonic_timeout: 0s}}", "conntrack.pressure.embryonic_timeout: must be positive"},
		{"boolean", "options: {expire_nodest_conn: maybe}", `options.expire_nodest_conn: "maybe" is not a boolean (true or false)`},
		{"monitor without users", "monitor: {listen: 127.0.0.1:9443}",
			"monitor.users_file: required: the monitor needs users (fastlvs passwd --users-file FILE --role admin NAME)"},
		{"monitor without listen", "monitor: {users_file: /etc/fastlvs/users}",
			"monitor.listen: required when the monitor is configured (host:port, e.g. 0.0.0.0:9443)"},
		{"monitor key without cert", "monitor: {listen: 127.0.0.1:9443, users_file: /u, key_file: /k}", "monitor.cert_file: required with monitor.key_file"},
		{"monitor unknown key", "monitor: {listen: 127.0.0.1:9443, user_file: /u}", "monitor.user_file: unknown key (did you mean users_file?)"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := Parse([]byte(test.yaml))
			if err == nil {
				t.Fatalf("accepted, want %q", test.want)
			}
			if err.Error() != test.want {
				t.Errorf("got  %q\nwant %q", err.Error(), test.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err.Error())
			}
			var configErr *ConfigError
			if !errors.As(err, &configErr) {
				t.Errorf("error is %T, want *ConfigError", err)
			}
		})
	}
}

func TestParseConfigRejectsBrokenYAML(t *testing.T) {
	_, err := Parse([]byte("services: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "parse config: yaml: ") {
		t.Fatalf("got %v, want a yaml parse error", err)
	}
}

func TestLoadConfigEnvironmentAndFlagOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fastlvs.yaml")
	text := "interfaces: [eth1]\nworkers: 4\nmetrics: 127.0.0.1:9000\nxdp_mode: generic\nconntrack: {capacity: 1000}\n" +
		"services: [{vip: 198.18.0.10, port: 80}]\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	fileOnly, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fileOnly.Workers != 4 || fileOnly.Metrics != "127.0.0.1:9000" || fileOnly.Conntrack.Capacity != 1000 {
		t.Fatalf("file values: %+v", fileOnly)
	}

	t.Setenv("FASTLVS_METRICS", "127.0.0.1:9999")
	t.Setenv("FASTLVS_WORKERS", "3")
	t.Setenv("FASTLVS_CONNTRACK_CAPACITY", "5000")
	t.Setenv("FASTLVS_CONNTRACK_TIMEOUTS_UDP", "30s")
	t.Setenv("FASTLVS_CPUS", "0,1")
	flags := pflag.NewFlagSet("fastlvs", pflag.ContinueOnError)
	RegisterConfigFlags(flags)
	if err := flags.Parse([]string{"--iface", "veth-a", "--iface", "veth-b", "--workers", "auto", "--xdp-mode", "native"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics != "127.0.0.1:9999" || cfg.Conntrack.Capacity != 5000 || cfg.Conntrack.Timeouts.UDP != 30*time.Second || !slices.Equal(cfg.CPUs, []int{0, 1}) {
		t.Errorf("environment not applied: metrics %q capacity %d udp %s cpus %v", cfg.Metrics, cfg.Conntrack.Capacity, cfg.Conntrack.Timeouts.UDP, cfg.CPUs)
	}
	if cfg.Conntrack.Timeouts.TCP != 900*time.Second {
		t.Errorf("an unset environment variable must keep the default, got tcp timeout %s", cfg.Conntrack.Timeouts.TCP)
	}
	if !slices.Equal(cfg.Interfaces, []string{"veth-a", "veth-b"}) || cfg.Workers != 0 || cfg.XDPMode != "native" {
		t.Errorf("flags not applied over file and environment: interfaces %v workers %d xdp %q", cfg.Interfaces, cfg.Workers, cfg.XDPMode)
	}
	if len(cfg.Services) != 1 {
		t.Errorf("services from the file lost: %d", len(cfg.Services))
	}

	t.Setenv("FASTLVS_WORKERS", "lots")
	if _, err := Load(path, nil); err == nil || err.Error() != `workers: "lots" is not an integer or "auto"` {
		t.Errorf("bad environment value: got %v", err)
	}
}

func TestLoadConfigWithoutFile(t *testing.T) {
	flags := pflag.NewFlagSet("fastlvs", pflag.ContinueOnError)
	RegisterConfigFlags(flags)
	if err := flags.Parse([]string{"--iface", "eth9", "--metrics", "127.0.0.1:9300"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("", flags)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Interfaces, []string{"eth9"}) || cfg.Metrics != "127.0.0.1:9300" || cfg.API != DefaultAPI {
		t.Errorf("got %+v", cfg)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestValidateProgrammaticConfig(t *testing.T) {
	cfg := DefaultConfig()
	service := DefaultService()
	service.VIP = netip.MustParseAddr("2001:2::10")
	service.Port = 443
	server := DefaultRealServer()
	server.Address = netip.MustParseAddr("2001:2::2")
	service.RealServers = append(service.RealServers, server)
	cfg.Services = append(cfg.Services, service)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Services[0].String(); got != "tcp-2001:2::10-443 (tcp [2001:2::10]:443)" {
		t.Errorf("String() = %q", got)
	}
	if cfg.Services[0].RealServers[0].Port != 443 || cfg.Services[0].PersistencePrefix != 128 {
		t.Errorf("normalization: %+v", cfg.Services[0])
	}
}

func TestHealthCheckStatusRanges(t *testing.T) {
	check := HealthCheckConfig{Status: "200, 301-302"}
	ranges, err := check.StatusRanges()
	if err != nil || !slices.Equal(ranges, [][2]int{{200, 200}, {301, 302}}) {
		t.Errorf("got %v %v", ranges, err)
	}
	check.Status = ""
	if ranges, _ := check.StatusRanges(); !slices.Equal(ranges, [][2]int{{200, 399}}) {
		t.Errorf("default ranges %v", ranges)
	}
}

// An environment override reaches a mapping the file spells with capitals,
// and keeps the file's other keys in it.
func TestEnvironmentOverridesCapitalisedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fastlvs.yaml")
	if err := os.WriteFile(path, []byte("Interfaces: [eth1]\nConntrack:\n  Capacity: 1000\n  Timeouts: {TCP: 60s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FASTLVS_CONNTRACK_TIMEOUTS_UDP", "30s")
	t.Setenv("FASTLVS_API", "")
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conntrack.Capacity != 1000 || cfg.Conntrack.Timeouts.TCP != 60*time.Second || cfg.Conntrack.Timeouts.UDP != 30*time.Second {
		t.Errorf("conntrack %+v", cfg.Conntrack)
	}
	if cfg.API != DefaultConfig().API {
		t.Errorf("an empty variable must count as unset: api %q", cfg.API)
	}
}

func TestParseConfigVLANs(t *testing.T) {
	cfg, err := Parse([]byte("interfaces: [eth1]\nvlans:\n  - {interface: eth1, id: 100, device: v100}\n  - {interface: eth1, id: 4094, device: v4094}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []VLANConfig{{Interface: "eth1", ID: 100, Device: "v100"}, {Interface: "eth1", ID: 4094, Device: "v4094"}}
	if !slices.Equal(cfg.VLANs, want) {
		t.Fatalf("vlans %+v, want %+v", cfg.VLANs, want)
	}
}
