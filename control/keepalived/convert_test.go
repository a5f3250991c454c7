package keepalived

import (
	"fastlvs/control/config"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden .yaml and .warnings files")

// TestConvertGolden converts every testdata/*.conf and compares the YAML and
// the warnings with the golden files beside it; the YAML must also be a valid
// fastlvs configuration.
func TestConvertGolden(t *testing.T) {
	sources, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(sources) < 3 {
		t.Fatalf("want at least 3 keepalived.conf fixtures, got %v (%v)", sources, err)
	}
	for _, source := range sources {
		name := strings.TrimSuffix(source, ".conf")
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(source)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := Convert(src)
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			if _, err := config.Parse(out); err != nil {
				t.Fatalf("converted YAML does not validate: %v\n%s", err, out)
			}
			warningText := strings.Join(warnings, "\n") + "\n"
			if *update {
				writeGolden(t, name+".yaml", out)
				writeGolden(t, name+".warnings", []byte(warningText))
				return
			}
			compareGolden(t, name+".yaml", string(out))
			compareGolden(t, name+".warnings", warningText)
		})
	}
}

func writeGolden(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the conversion:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func convertAndParse(t *testing.T, src string) (*config.Config, []string) {
	t.Helper()
	out, warnings, err := Convert([]byte(src))
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	cfg, err := config.Parse(out)
	if err != nil {
		t.Fatalf("parse converted YAML: %v\n%s", err, out)
	}
	return cfg, warnings
}

func TestConvertNATWithHTTPChecks(t *testing.T) {
	src, err := os.ReadFile("testdata/nat_http.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings := convertAndParse(t, string(src))
	if cfg.Conntrack.Timeouts != (config.ConntrackTimeouts{TCP: 2 * time.Hour, TCPFin: 2 * time.Minute, UDP: 5 * time.Minute}) {
		t.Errorf("lvs_timeouts: %+v", cfg.Conntrack.Timeouts)
	}
	web := cfg.Services[0]
	if web.Forward != "nat" || web.Scheduler != "wlc" || web.Persistence != 10*time.Minute || web.PersistencePrefix != 24 || web.Quorum != 2 {
		t.Errorf("web service: %+v", web)
	}
	if web.SorryServer == nil || web.SorryServer.Address != netip.MustParseAddr("198.18.2.99") || web.SorryServer.Port != 8080 {
		t.Errorf("sorry server: %+v", web.SorryServer)
	}
	// The two HTTP_GET servers share a check; the service takes it.
	want := config.HealthCheckConfig{Type: "http", Interval: 6 * time.Second, Timeout: 3 * time.Second, Rise: 1, Fall: 4,
		Path: "/healthz", Status: "200", Host: "www.example.test", InhibitOnFailure: true}
	if web.HealthCheck != want {
		t.Errorf("service check %+v\nwant %+v", web.HealthCheck, want)
	}
	if first := web.RealServers[0]; first.Weight != 3 || first.UpperThreshold != 1000 || first.LowerThreshold != 800 || first.Port != 8080 {
		t.Errorf("first real server: %+v", first)
	}
	misc := web.RealServerCheck(2)
	if misc.Type != "exec" || misc.Command != "/usr/local/bin/check_web 198.18.2.4 --deep" || misc.Timeout != 4*time.Second || misc.InhibitOnFailure || misc.Fall != 2 {
		t.Errorf("MISC_CHECK override: %+v", misc)
	}
	tls := cfg.Services[1]
	if check := tls.HealthCheck; check.Type != "https" || check.SNI != "api.example.test" || check.BodyRegex != "^ok" || check.Status != "200-299" {
		t.Errorf("SSL_GET: %+v", check)
	}
	for _, named := range []string{"line 9: router_id LVS_NAT_1: not translated", "line 13: vrrp_instance VI_1: handled by keepalived/VRRP, not translated",
		"line 60: digest 5b6d74f1453e20c09d6a20d909779ad7: not translated", "only the first url of HTTP_GET is checked", "line 50: delay_before_retry 3: not translated",
		"line 71: misc_dynamic: not translated"} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, named) }) {
			t.Errorf("no warning containing %q in\n%s", named, strings.Join(warnings, "\n"))
		}
	}
}

func TestConvertFullNATLocalAddressGroups(t *testing.T) {
	src, err := os.ReadFile("testdata/fnat_dpvs.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings := convertAndParse(t, string(src))
	if len(cfg.Services) != 2 {
		t.Fatalf("want 2 services (the one naming a missing group is refused), got %d", len(cfg.Services))
	}
	fnat := cfg.Services[0]
	wantLocal := []netip.Addr{}
	for _, addr := range []string{"198.18.3.1", "198.18.3.2", "198.18.3.3", "198.18.3.4", "198.18.3.10"} {
		wantLocal = append(wantLocal, netip.MustParseAddr(addr))
	}
	if fnat.Forward != "fullnat" || !slices.Equal(fnat.LocalAddresses, wantLocal) || fnat.SynProxy || fnat.Scheduler != "wrr" {
		t.Errorf("fullnat service: %+v", fnat)
	}
	if fnat.HealthCheck.Fall != 3 || fnat.HealthCheck.Interval != 2*time.Second || fnat.HealthCheck.Timeout != time.Second {
		t.Errorf("nb_get_retry 2 should give fall 3: %+v", fnat.HealthCheck)
	}
	if v6 := cfg.Services[1]; len(v6.LocalAddresses) != 3 || v6.LocalAddresses[2] != netip.MustParseAddr("2001:2:0:3::3") {
		t.Errorf("IPv6 range: %v", v6.LocalAddresses)
	}
	for _, named := range []string{"interface dpdk1 not translated", "establish_timeout 60: not translated", "laddr_group_name no_such_group: no local_address_group"} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, named) }) {
			t.Errorf("no warning containing %q in\n%s", named, strings.Join(warnings, "\n"))
		}
	}
}

func TestConvertNamesUntranslatedServices(t *testing.T) {
	src, err := os.ReadFile("testdata/dr_mixed.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings := convertAndParse(t, string(src))
	if len(cfg.Services) != 4 {
		t.Fatalf("want 4 translated services, got %d", len(cfg.Services))
	}
	dr := cfg.Services[0]
	if dr.Forward != "dr" || dr.Scheduler != "mh" || !slices.Equal(dr.Flags, []string{"mh-port"}) || dr.RealServers[1].Port != 80 {
		t.Errorf("dr service: %+v", dr)
	}
	dns := cfg.Services[1]
	if dns.Protocol != "udp" || dns.RealServerCheck(0).DNSName != "example.test" || dns.RealServerCheck(0).Fall != 3 {
		t.Errorf("DNS_CHECK: %+v", dns.RealServerCheck(0))
	}
	if udp := dns.RealServerCheck(1); udp.Type != "udp" || udp.Payload != "ping\n" || udp.Expect != "pong" {
		t.Errorf("UDP_CHECK: %+v", udp)
	}
	allPorts := cfg.Services[2]
	if allPorts.Port != 0 || allPorts.Forward != "tun" || allPorts.RealServerCheck(0).Type != "icmp" || allPorts.RealServerCheck(1).Type != "none" {
		t.Errorf("port 0 tun service: %+v", allPorts)
	}
	if v6 := cfg.Services[3]; v6.PersistencePrefix != 64 || v6.Scheduler != "twos" {
		t.Errorf("IPv6 service: %+v", v6)
	}
	for _, named := range []string{
		"line 3: include /etc/keepalived/conf.d/*.conf: included files are not followed",
		"line 5: vrrp_sync_group VG_1: handled by keepalived/VRRP",
		"line 11: virtual_server_group web_group: virtual server groups are not translated",
		"line 23: ops: not translated",
		"TCP_CHECK connect_ip 198.18.2.110: not translated",
		"line 31: real_server 198.18.2.11 8080: lb_kind DR cannot change the port; port 80 used",
		"notify_down /usr/local/bin/page-oncall: not translated",
		"type A: not translated",
		"line 92: SMTP_CHECK: no fastlvs equivalent, checker not translated",
		"virtual_server fwmark 7: fwmark services are not translated",
		"virtual_server group web_group: virtual_server_group services are not translated",
	} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, named) }) {
			t.Errorf("no warning containing %q in\n%s", named, strings.Join(warnings, "\n"))
		}
	}
}

func TestConvertTimingClampedBelowInterval(t *testing.T) {
	cfg, warnings := convertAndParse(t, `
virtual_server 198.18.0.10 80 {
    delay_loop 2
    lb_kind DR
    real_server 198.18.2.2 80 {
        TCP_CHECK {
            connect_timeout 5
        }
    }
}`)
	if check := cfg.Services[0].HealthCheck; check.Interval != 2*time.Second || check.Timeout != time.Second {
		t.Errorf("timeout not clamped: %+v", check)
	}
	if !slices.Contains(warnings, "line 6: check timeout 5s is not below delay_loop 2s; timeout 1s used") {
		t.Errorf("warnings: %q", warnings)
	}
}

func TestConvertDefaultsFollowKeepalived(t *testing.T) {
	cfg, warnings := convertAndParse(t, "virtual_server 198.18.0.10 80 {\n real_server 198.18.2.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n")
	service := cfg.Services[0]
	want := config.HealthCheckConfig{Type: "tcp", Interval: 60 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 2}
	if service.Forward != "nat" || service.HealthCheck != want || service.RealServers[0].Weight != 1 {
		t.Errorf("got %+v", service)
	}
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings %q", warnings)
	}
}

func TestConvertSyntaxErrors(t *testing.T) {
	for src, want := range map[string]string{
		"virtual_server 198.18.0.10 80 {\n  lb_kind DR\n": "parse keepalived.conf: line 1: block is never closed (missing '}')",
		"}\n":                      "parse keepalived.conf: line 1: '}' without an open block",
		"misc_path \"/bin/x\n":     "parse keepalived.conf: line 1: unterminated quoted string",
		"global_defs {\n}\n{\n}\n": "parse keepalived.conf: line 3: '{' without a keyword before it",
	} {
		if _, _, err := Convert([]byte(src)); err == nil || err.Error() != want {
			t.Errorf("Convert(%q) error %v, want %q", src, err, want)
		}
	}
}

func TestParseBlocksCommentsAndQuotes(t *testing.T) {
	nodes, err := Parse([]byte("a 1 # comment\nb \"x # y\" { c ! note\n d { e } }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].String() != "a 1" || nodes[1].Args[0] != "x # y" || !nodes[1].Block {
		t.Fatalf("nodes: %+v", nodes)
	}
	children := nodes[1].Children
	if len(children) != 2 || children[0].Keyword != "c" || children[1].Children[0].Keyword != "e" || children[1].Line != 3 {
		t.Errorf("children: %+v %+v", children[0], children[1])
	}
}

func TestExpandRange(t *testing.T) {
	addrs, err := expandRange("198.18.3.250-255")
	if err != nil || len(addrs) != 6 || addrs[5] != netip.MustParseAddr("198.18.3.255") {
		t.Errorf("got %v %v", addrs, err)
	}
	for _, bad := range []string{"198.18.3.9-3", "198.18.3.1-256", "nope-3", "2001:2::1-zz"} {
		if _, err := expandRange(bad); err == nil {
			t.Errorf("expandRange(%q) accepted", bad)
		}
	}
}
