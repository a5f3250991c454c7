package api_test

import (
	"encoding/json"
	"errors"
	"fastlvs/control/config"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fastlvs/control"
	"fastlvs/control/api"
	"fastlvs/control/api/apitest"
)

const webService = `{"key":{"protocol":"tcp","address":"198.18.0.10","port":80},"scheduler":"wlc"}`

// newBackend is the daemon's own backend over an empty table.
func newBackend(t *testing.T) *control.OfflineBackend {
	t.Helper()
	cfg, err := config.Parse([]byte("interfaces: [eth1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return control.NewOfflineBackend(cfg)
}

func newServer(t *testing.T) (*control.OfflineBackend, http.Handler) {
	t.Helper()
	backend := newBackend(t)
	h := api.NewHandler(backend, "")
	if code, body := call(t, h, "POST", "/v1/services", webService); code != http.StatusCreated {
		t.Fatalf("add web service: %d %s", code, body)
	}
	return backend, h
}

func call(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestInvalidRequestsNameTheField(t *testing.T) {
	const svc = "/v1/services/tcp/198.18.0.10/80"
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"bad json", "POST", "/v1/services", `{"key":`, 400, ""},
		{"unknown top field", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"schedular":"rr"}`, 400, "schedular"},
		{"unknown nested field", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"real_servers":[{"address":"198.18.2.2","wieght":1}]}`, 400, "real_servers[0].wieght"},
		{"bad address", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.x","port":80}}`, 400, "key.address"},
		{"missing address", "POST", "/v1/services", `{"key":{"protocol":"tcp","port":80}}`, 400, "key.address"},
		{"port out of range", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":70000}}`, 400, "key.port"},
		{"port as string", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":"80"}}`, 400, "key.port"},
		{"bad protocol", "POST", "/v1/services", `{"key":{"protocol":"sctp","address":"198.18.0.11","port":80}}`, 400, "key.protocol"},
		{"bad scheduler", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"scheduler":"fastest"}`, 400, "scheduler"},
		{"zero port not persistent", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":0}}`, 400, "key.port"},
		{"sh flag on wlc", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"flags":["sh-port"]}`, 400, "flags[0]"},
		{"ops on tcp", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"flags":["ops"]}`, 400, "flags[0]"},
		{"timeout too big", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"persistent":true,"timeout":2678401}`, 400, "timeout"},
		{"netmask not contiguous", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"persistent":true,"netmask":"255.0.255.0"}`, 400, "netmask"},
		{"ipv6 netmask dotted", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"2001:2::10","port":80},"persistent":true,"netmask":"255.255.255.0"}`, 400, "netmask"},
		{"netmask without persistence", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"netmask":"255.255.255.0"}`, 400, "netmask"},
		{"bad forward", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"forward":"bridge"}`, 400, "forward"},
		{"bad local address", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"local_addresses":["198.18.3.1","nope"]}`, 400, "local_addresses[1]"},
		{"family mismatch", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"real_servers":[{"address":"2001:2::2","forward":"nat","weight":1}]}`, 400, "real_servers[0].address"},
		{"duplicate real", "POST", "/v1/services", `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80},"real_servers":[{"address":"198.18.2.2","port":80},{"address":"198.18.2.2","port":80}]}`, 400, "real_servers[1]"},
		{"service exists", "POST", "/v1/services", webService, 409, "key"},
		{"edit unknown", "PUT", "/v1/services/tcp/198.18.0.99/80", `{"scheduler":"rr"}`, 404, "key"},
		{"edit key mismatch", "PUT", svc, `{"key":{"protocol":"tcp","address":"198.18.0.11","port":80}}`, 400, "key"},
		{"path address", "DELETE", "/v1/services/tcp/198.18.0.300/80", "", 400, "key.address"},
		{"path port", "DELETE", "/v1/services/tcp/198.18.0.10/http", "", 400, "key.port"},
		{"path protocol", "DELETE", "/v1/services/icmp/198.18.0.10/80", "", 400, "key.protocol"},
		{"delete unknown", "DELETE", "/v1/services/udp/198.18.0.10/80", "", 404, "key"},
		{"real weight negative", "POST", svc + "/reals", `{"address":"198.18.2.2","weight":-1}`, 400, "real_server.weight"},
		{"real weight too big", "POST", svc + "/reals", `{"address":"198.18.2.2","weight":65536}`, 400, "real_server.weight"},
		{"real threshold too big", "POST", svc + "/reals", `{"address":"198.18.2.2","upper_threshold":4294967295}`, 400, "real_server.upper_threshold"},
		{"real bad forward", "POST", svc + "/reals", `{"address":"198.18.2.2","forward":"x"}`, 400, "real_server.forward"},
		{"real unknown field", "POST", svc + "/reals", `{"address":"198.18.2.2","wait":1}`, 400, "wait"},
		{"real empty body", "POST", svc + "/reals", ``, 400, ""},
		{"real to unknown service", "POST", "/v1/services/tcp/198.18.0.99/80/reals", `{"address":"198.18.2.2"}`, 404, "key"},
		{"edit unknown real", "PUT", svc + "/reals", `{"address":"198.18.2.9","weight":2}`, 404, "real_server"},
		{"delete unknown real", "DELETE", svc + "/reals/198.18.2.9/80", "", 404, "real_server"},
		{"delete real bad addr", "DELETE", svc + "/reals/x/80", "", 400, "real_server.address"},
		{"delete real bad port", "DELETE", svc + "/reals/198.18.2.9/-1", "", 400, "real_server.port"},
		{"timeouts too big", "PUT", "/v1/timeouts", `{"tcp":2678401}`, 400, "tcp"},
		{"timeouts unknown field", "PUT", "/v1/timeouts", `{"tcpfin":1}`, 400, "tcpfin"},
		{"zero bad key", "POST", "/v1/zero", `{"protocol":"tcp","address":"x"}`, 400, "address"},
		{"zero unknown service", "POST", "/v1/zero", `{"protocol":"tcp","address":"198.18.0.99","port":80}`, 404, "key"},
		{"laddr bad", "POST", svc + "/laddrs", `{"address":"1.2.3"}`, 400, "address"},
		{"laddr missing", "POST", svc + "/laddrs", `{}`, 400, "address"},
		{"laddr unknown delete", "DELETE", svc + "/laddrs", `{"address":"198.18.3.9"}`, 404, "local_address"},
		{"trailing data", "PUT", "/v1/timeouts", `{"tcp":1} {"tcp":2}`, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend, h := newServer(t)
			before, _ := backend.ListServices()
			code, body := call(t, h, tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d (body %s)", code, tc.status, body)
			}
			var e api.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", body, err)
			}
			if e.Field != tc.field || e.Message == "" {
				t.Fatalf("error %+v, want field %q with a message", e, tc.field)
			}
			after, _ := backend.ListServices()
			if got, want := mustJSON(t, after), mustJSON(t, before); got != want {
				t.Fatalf("a refused request changed the table:\nbefore %s\nafter  %s", want, got)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidServiceGetsIpvsadmDefaults(t *testing.T) {
	backend, h := newServer(t)
	code, body := call(t, h, "POST", "/v1/services", `{"key":{"protocol":"udp","address":"2001:2::10","port":53},"persistent":true,"netmask":"128","real_servers":[{"address":"2001:2::2","weight":3}]}`)
	if code != http.StatusCreated {
		t.Fatalf("add: %d %s", code, body)
	}
	services, _ := backend.ListServices()
	s := services[1]
	if s.Scheduler != "wlc" || s.Timeout != 300 || s.Netmask != "" {
		t.Fatalf("defaults not applied: %+v", s)
	}
	if rs := s.RealServers[0]; rs.Forward != "dr" || rs.Port != 53 || rs.Weight != 3 {
		t.Fatalf("real server defaults not applied: %+v", rs)
	}
}

func TestTokenRequired(t *testing.T) {
	h := api.NewHandler(newBackend(t), "s3cret")
	for _, auth := range []string{"", "Bearer wrong", "s3cret"} {
		req := httptest.NewRequest("GET", "/v1/services", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, rec.Code)
		}
	}
	req := httptest.NewRequest("GET", "/v1/services", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("with token: %d %q", rec.Code, rec.Body.String())
	}
}

// TestClientRoundTrip drives every client method through a unix socket.
func TestClientRoundTrip(t *testing.T) {
	backend := newBackend(t)
	client := api.NewClient(apitest.ServeUnix(t, api.NewHandler(backend, "")), "")
	key := api.ServiceKey{Protocol: "tcp", Address: netip.MustParseAddr("2001:2::10"), Port: 443}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(client.AddService(api.Service{Key: key, Scheduler: "rr", Forward: "nat"}))
	must(client.AddRealServer(key, api.RealServer{Address: netip.MustParseAddr("2001:2::2:2"), Port: 8443, Weight: 5}))
	must(client.EditRealServer(key, api.RealServer{Address: netip.MustParseAddr("2001:2::2:2"), Port: 8443, Weight: 7, Forward: "nat"}))
	must(client.EditService(api.Service{Key: key, Scheduler: "sh", Flags: []string{"sh-port"}, Forward: "nat"}))
	// A service without real servers becomes fullnat by its first local address.
	fullnat := api.ServiceKey{Protocol: "udp", Address: netip.MustParseAddr("2001:2::11"), Port: 53}
	must(client.AddService(api.Service{Key: fullnat, Scheduler: "rr"}))
	must(client.AddLocalAddress(fullnat, netip.MustParseAddr("2001:2::3:1")))
	must(client.SetTimeouts(api.Timeouts{TCP: 60}))
	must(client.Zero(&key))
	must(client.Zero(nil))
	s, err := client.Service(key)
	must(err)
	if s.Scheduler != "sh" || len(s.RealServers) != 1 || s.RealServers[0].Weight != 7 || s.RealServers[0].Forward != "nat" {
		t.Fatalf("service after edits: %+v", s)
	}
	if s, err := client.Service(fullnat); err != nil || s.Forward != "fullnat" || len(s.LocalAddresses) != 1 {
		t.Fatalf("fullnat service: %+v, %v", s, err)
	}
	timeouts, err := client.Timeouts()
	must(err)
	if timeouts != (api.Timeouts{TCP: 60, TCPFin: 120, UDP: 300}) {
		t.Fatalf("timeouts %+v", timeouts)
	}
	err = client.AddService(api.Service{Key: key})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Body.Field != "key" {
		t.Fatalf("adding twice: %v", err)
	}
	must(client.AddLocalAddress(fullnat, netip.MustParseAddr("2001:2::3:2")))
	must(client.DeleteLocalAddress(fullnat, netip.MustParseAddr("2001:2::3:1"))) // a fullnat service keeps one at least
	must(client.DeleteRealServer(key, netip.MustParseAddrPort("[2001:2::2:2]:8443")))
	must(client.DeleteService(key))
	must(client.Clear())
	services, err := client.Services()
	must(err)
	conns, err := client.Connections()
	must(err)
	if len(services) != 0 || len(conns) != 0 {
		t.Fatalf("left %d services, %d connections", len(services), len(conns))
	}
}

func TestListenReplacesStaleSocketWithMode0600(t *testing.T) {
	dir, err := os.MkdirTemp("", "fastlvs-api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	first, err := api.Listen("unix://"+path, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Listen("unix://"+path, ""); err == nil {
		t.Fatal("a second listener took over a live socket")
	}
	// Leave the file behind as a crashed daemon would.
	first.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	first.Close()
	second, err := api.Listen("unix://"+path, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer second.Close()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want 0600", info.Mode().Perm())
	}
	if _, err := api.Listen("tcp://127.0.0.1:0", ""); err == nil {
		t.Fatal("TCP without a token was accepted")
	}
}
