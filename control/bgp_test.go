package control

import (
	"errors"
	"fastlvs/control/config"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

const bgpServices = `
services:
  - vip: 198.18.0.10
    port: 80
    real_servers: [{address: 198.18.2.2}, {address: 198.18.2.3}]
  - vip: 198.18.0.10
    port: 443
    real_servers: [{address: 198.18.2.2}]
  - vip: 2001:2::10
    port: 80
    quorum: 2
    real_servers: [{address: 2001:2::2:2}, {address: 2001:2::2:3}]
  - vip: 198.18.0.11
    port: 80
    sorry_server: {address: 198.18.2.9}
    real_servers: [{address: 198.18.2.2}]
`

func TestBGPConfigParsed(t *testing.T) {
	cfg, err := config.Parse([]byte(`
bgp:
  asn: 4200000001
  router_id: 198.18.255.2
  peers:
    - {address: 198.18.5.1, asn: 64512, hold_time: 9s, password: pw}
    - {address: 2001:2::5:1, asn: 64512, port: 1179}
  communities: ["64512:100", "65535:0"]
  med: 20
  next_hop: 198.18.5.2
drain_grace: 3s
`))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.BGP
	if b.ASN != 4200000001 || b.RouterID != netip.MustParseAddr("198.18.255.2") || b.ListenPort != 0 || b.MED != 20 || cfg.DrainGrace != 3*time.Second {
		t.Errorf("bgp %+v drain_grace %s", b, cfg.DrainGrace)
	}
	if len(b.Peers) != 2 || b.Peers[0].HoldTime != 9*time.Second || b.Peers[0].Password != "pw" || b.Peers[1].Port != 1179 {
		t.Errorf("peers %+v", b.Peers)
	}
	settings, err := bgpSettings(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(settings.Communities, []uint32{64512<<16 | 100, 65535 << 16}) || settings.NextHops[0] != netip.MustParseAddr("198.18.5.2") {
		t.Errorf("settings %+v", settings)
	}
	if empty, _ := config.Parse(nil); empty.BGP != nil || empty.DrainGrace != config.DefaultDrainGrace {
		t.Errorf("defaults: bgp %v drain_grace %s", empty.BGP, empty.DrainGrace)
	}
}

func TestBGPConfigRejects(t *testing.T) {
	const peer = "peers: [{address: 198.18.5.1, asn: 64512}]"
	for _, tc := range []struct{ yaml, field string }{
		{"bgp: {router_id: 198.18.255.2, " + peer + "}", "bgp.asn"},
		{"bgp: {asn: 4294967296, router_id: 198.18.255.2, " + peer + "}", "bgp.asn"},
		{"bgp: {asn: 1, router_id: 2001:2::1, " + peer + "}", "bgp.router_id"},
		{"bgp: {asn: 1, router_id: 198.18.255.2}", "bgp.peers"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, listen_port: 70000, " + peer + "}", "bgp.listen_port"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, peers: [{address: 198.18.5.1}]}", "bgp.peers[0].asn"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, peers: [{asn: 2}]}", "bgp.peers[0].address"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, peers: [{address: 198.18.5.1, asn: 2, hold_time: 2s}]}", "bgp.peers[0].hold_time"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, peers: [{address: 198.18.5.1, asn: 2, passive: true}]}", "bgp.peers[0].passive"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, peers: [{address: 198.18.5.1, asn: 2}, {address: 198.18.5.1, asn: 3}]}", "bgp.peers[1].address"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, communities: [\"64512\"], " + peer + "}", "bgp.communities[0]"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, communities: [\"70000:1\"], " + peer + "}", "bgp.communities[0]"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, med: -1, " + peer + "}", "bgp.med"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, next_hop: [198.18.5.2, 198.18.5.3], " + peer + "}", "bgp.next_hop[1]"},
		{"bgp: {asn: 1, router_id: 198.18.255.2, bogus: 1, " + peer + "}", "bgp.bogus"},
		{"drain_grace: -1s", "drain_grace"},
	} {
		_, err := config.Parse([]byte(tc.yaml))
		var ce *config.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v, want a refusal of %s", tc.yaml, err, tc.field)
		}
	}
}

func TestReloadRefusesBGPChange(t *testing.T) {
	old, err := config.Parse([]byte("bgp: {asn: 1, router_id: 198.18.255.2, peers: [{address: 198.18.5.1, asn: 2}]}"))
	if err != nil {
		t.Fatal(err)
	}
	same, _ := cloneConfig(old)
	if err := restartOnlyChange(old, same); err != nil {
		t.Errorf("unchanged bgp refused: %v", err)
	}
	next, _ := cloneConfig(old)
	next.BGP.Peers[0].ASN = 3
	if err := restartOnlyChange(old, next); err == nil || !strings.HasPrefix(err.Error(), "bgp:") {
		t.Errorf("changed bgp: got %v, want a refusal naming bgp", err)
	}
}

func TestUsableVIPsFollowTheTable(t *testing.T) {
	cfg, err := config.Parse([]byte(bgpServices))
	if err != nil {
		t.Fatal(err)
	}
	usable := func(overrides map[RealServerKey]Override) []netip.Prefix {
		t.Helper()
		spec, err := CompileTable(cfg, overrides)
		if err != nil {
			t.Fatal(err)
		}
		var prefixes []netip.Prefix
		for _, route := range usableVIPs(cfg, &spec) {
			prefixes = append(prefixes, route.Prefix)
		}
		return prefixes
	}
	down := func(service int, reals ...int) map[RealServerKey]Override {
		out := map[RealServerKey]Override{}
		for _, r := range reals {
			for i, key := range serviceRealKeys(&cfg.Services[service]) {
				if i == r {
					out[key] = Override{Down: true, Weight: -1}
				}
			}
		}
		return out
	}
	v4, v6, sorry := netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("2001:2::10/128"), netip.MustParsePrefix("198.18.0.11/32")
	if got := usable(nil); !slices.Equal(got, []netip.Prefix{v4, v6, sorry}) {
		t.Errorf("all up: %v", got)
	}
	// One of the VIP's two services still has a server: the VIP stays.
	if got := usable(down(0, 0, 1)); !slices.Equal(got, []netip.Prefix{v4, v6, sorry}) {
		t.Errorf("port 80 down: %v", got)
	}
	both := down(0, 0, 1)
	for k, v := range down(1, 0) {
		both[k] = v
	}
	if got := usable(both); !slices.Equal(got, []netip.Prefix{v6, sorry}) {
		t.Errorf("both services of 198.18.0.10 down: %v", got)
	}
	// Quorum 2: one server of two is not enough.
	if got := usable(down(2, 1)); !slices.Equal(got, []netip.Prefix{v4, sorry}) {
		t.Errorf("quorum lost: %v", got)
	}
	// The sorry server serving alone does not make the VIP usable.
	if got := usable(down(3, 0)); !slices.Equal(got, []netip.Prefix{v4, v6}) {
		t.Errorf("sorry server alone: %v", got)
	}
	// Weight 0 (inhibit or API) counts as not usable.
	cfg.Services[3].RealServers[0].Weight = 0
	if got := usable(nil); slices.Contains(got, sorry) {
		t.Errorf("weight 0: %v", got)
	}
}

func TestServiceBGPAttributes(t *testing.T) {
	const head = "bgp: {asn: 1, router_id: 198.18.255.2, med: 5, peers: [{address: 198.18.5.1, asn: 2}]}\nservices:\n"
	const svc = "  - {vip: %s, port: %d, real_servers: [{address: 198.18.2.2}]%s}\n"
	service := func(vip string, port int, extra string) string { return fmt.Sprintf(svc, vip, port, extra) }
	cfg, err := config.Parse([]byte(head +
		service("198.18.0.10", 80, `, bgp: {med: 30, communities: ["64513:200"]}`) +
		service("198.18.0.10", 443, `, bgp: {med: 30, communities: ["64513:200"]}`) +
		service("198.18.0.11", 80, "")))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := CompileTable(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	routes := usableVIPs(cfg, &spec)
	if len(routes) != 2 || routes[0].MED != 30 || !slices.Equal(routes[0].Communities, []uint32{64513<<16 | 200}) ||
		routes[1].MED != 0 || routes[1].Communities != nil {
		t.Errorf("routes %+v: want the first VIP's own attributes, the second's from the bgp section", routes)
	}

	for _, tc := range []struct{ yaml, field string }{
		{head + service("198.18.0.10", 80, ", bgp: {med: 30}") + service("198.18.0.10", 443, ""), "services[1].bgp"},
		{head + service("198.18.0.10", 80, ", bgp: {med: -1}"), "services[0].bgp.med"},
		{head + service("198.18.0.10", 80, `, bgp: {communities: ["x"]}`), "services[0].bgp.communities[0]"},
		{"services:\n" + service("198.18.0.10", 80, ", bgp: {med: 1}"), "services[0].bgp"},
	} {
		_, err := config.Parse([]byte(tc.yaml))
		var ce *config.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v, want a refusal of %s", tc.yaml, err, tc.field)
		}
	}
}
