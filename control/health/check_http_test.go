package health

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpBackend serves /health with a switchable status and body and records
// what the checker sent.
type httpBackend struct {
	srv      *httptest.Server
	addr     netip.AddrPort
	status   atomic.Int32
	body     atomic.Value // string
	newConns atomic.Int32
	requests atomic.Int32

	mu        sync.Mutex
	hosts     []string
	paths     []string
	sniNames  []string
	lastAgent string
}

func newHTTPBackend(tb testing.TB, useTLS bool) *httpBackend {
	tb.Helper()
	b := &httpBackend{}
	b.status.Store(http.StatusOK)
	b.body.Store("service healthy v1")
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		b.mu.Lock()
		b.hosts = append(b.hosts, r.Host)
		b.paths = append(b.paths, r.URL.Path)
		b.lastAgent = r.UserAgent()
		b.mu.Unlock()
		w.WriteHeader(int(b.status.Load()))
		_, _ = w.Write([]byte(b.body.Load().(string)))
	}))
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	b.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			b.newConns.Add(1)
		}
	}
	if useTLS {
		b.srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			b.mu.Lock()
			b.sniNames = append(b.sniNames, hello.ServerName)
			b.mu.Unlock()
			return nil, nil
		}}
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	tb.Cleanup(b.srv.Close)
	b.addr = netip.MustParseAddrPort(b.srv.Listener.Addr().String())
	return b
}

func TestHTTPStatusAndBody(t *testing.T) {
	backend := newHTTPBackend(t, false)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	spec := Spec{Type: TypeHTTP, Interval: 40 * time.Millisecond, Timeout: 2 * time.Second, Rise: 2, Fall: 2,
		Path: "/health", Host: "www.example.test", BodyRegex: `healthy v\d`}
	m.Update([]Target{{Key: "web", Addr: backend.addr, Spec: spec}})

	waitUntil(t, 5*time.Second, "three checks", func() bool { st, _ := m.Status("web"); return st.Checks >= 3 })
	if st, _ := m.Status("web"); !st.Up || st.Failures != 0 {
		t.Fatalf("status = %+v, want up without failures", st)
	}
	backend.mu.Lock()
	host, path, agent := backend.hosts[0], backend.paths[0], backend.lastAgent
	backend.mu.Unlock()
	if host != "www.example.test" || path != "/health" || agent != "fastlvs-health" {
		t.Errorf("request host=%q path=%q agent=%q", host, path, agent)
	}
	if conns, reqs := backend.newConns.Load(), backend.requests.Load(); conns < reqs {
		t.Errorf("%d connections for %d requests: checks must not reuse connections", conns, reqs)
	}

	backend.body.Store("maintenance")
	if e := rec.waitFor(t, 1, 5*time.Second); e.Up || !strings.Contains(e.Reason, "does not match") {
		t.Fatalf("event after body change = %+v, want down for the body", e)
	}
	backend.body.Store("service healthy v2")
	if e := rec.waitFor(t, 2, 5*time.Second); !e.Up {
		t.Fatalf("event = %+v, want up", e)
	}
	backend.status.Store(http.StatusServiceUnavailable)
	if e := rec.waitFor(t, 3, 5*time.Second); e.Up || !strings.Contains(e.Reason, "status 503") {
		t.Fatalf("event after 503 = %+v, want down for the status", e)
	}
	backend.status.Store(http.StatusFound) // 3xx is inside the default range and not followed
	if e := rec.waitFor(t, 4, 5*time.Second); !e.Up {
		t.Fatalf("event after 302 = %+v, want up", e)
	}
}

func TestHTTPStatusRange(t *testing.T) {
	backend := newHTTPBackend(t, false)
	backend.status.Store(http.StatusNoContent)
	m := newTestManager(t, Options{})
	m.Update([]Target{
		{Key: "only200", Addr: backend.addr, Spec: Spec{Type: TypeHTTP, Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, StatusMin: 200, StatusMax: 200}},
		{Key: "2xx", Addr: backend.addr, Spec: Spec{Type: TypeHTTP, Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, StatusMin: 200, StatusMax: 299}},
	})
	waitUntil(t, 5*time.Second, "checks", func() bool {
		a, _ := m.Status("only200")
		b, _ := m.Status("2xx")
		return a.Checks >= 2 && b.Checks >= 2
	})
	if st, _ := m.Status("only200"); st.Up || !strings.Contains(st.LastError, "status 204 not in 200-200") {
		t.Errorf("only200 = %+v, want down for 204", st)
	}
	if st, _ := m.Status("2xx"); !st.Up {
		t.Errorf("2xx = %+v, want up", st)
	}
}

func TestHTTPSWithSNI(t *testing.T) {
	backend := newHTTPBackend(t, true)
	m := newTestManager(t, Options{})
	m.Update([]Target{
		{Key: "sni", Addr: backend.addr, Spec: Spec{Type: TypeHTTPS, Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, SNI: "rs.example.test", BodyRegex: "healthy"}},
		// Verification on: httptest's certificate is not trusted, so down.
		{Key: "verify", Addr: backend.addr, Spec: Spec{Type: TypeHTTPS, Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, VerifyTLS: true}},
	})
	waitUntil(t, 5*time.Second, "checks", func() bool {
		a, _ := m.Status("sni")
		b, _ := m.Status("verify")
		return a.Checks >= 2 && b.Checks >= 2
	})
	if st, _ := m.Status("sni"); !st.Up || st.Failures != 0 {
		t.Errorf("https with SNI = %+v, want up", st)
	}
	if st, _ := m.Status("verify"); st.Up || !strings.Contains(st.LastError, "certificate") {
		t.Errorf("https with verification = %+v, want down for the certificate", st)
	}
	backend.mu.Lock()
	defer backend.mu.Unlock()
	if !slices.Contains(backend.sniNames, "rs.example.test") {
		t.Errorf("server saw SNI %q, want rs.example.test", backend.sniNames)
	}
}

func TestTLSServerName(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{}, ""},
		{Spec{SNI: "a.test", Host: "b.test"}, "a.test"},
		{Spec{Host: "b.test:8443"}, "b.test"},
		{Spec{Host: "198.18.2.1"}, ""},
		{Spec{Host: "[2001:2::1]:443"}, ""},
	} {
		if got := tlsServerName(tc.spec); got != tc.want {
			t.Errorf("tlsServerName(%+v) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}
