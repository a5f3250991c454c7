package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fastlvs/control/api"
	"fastlvs/control/health"
	"fastlvs/dataplane"
)

var (
	webKey = api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}
	real1  = netip.MustParseAddrPort("198.18.2.11:80")
	real2  = netip.MustParseAddrPort("198.18.2.12:80")
)

// testMonitor is a monitor over a fake backend with one service of two real
// servers, served over TLS, with users ann (admin) and vic (viewer).
type testMonitor struct {
	*Monitor
	backend   *fakeBackend
	server    *httptest.Server
	usersFile string
}

func newTestMonitor(t *testing.T) *testMonitor {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	for _, u := range []struct {
		name string
		role Role
	}{{"ann", RoleAdmin}, {"vic", RoleViewer}} {
		if err := SetUser(users, u.name, u.role, u.name+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	backend := &fakeBackend{}
	err := backend.AddService(api.Service{Key: webKey, Scheduler: "wrr", Forward: api.ForwardNAT, RealServers: []api.RealServer{
		{Address: real1.Addr(), Port: real1.Port(), Weight: 3}, {Address: real2.Addr(), Port: real2.Port(), Weight: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	workers := []*dataplane.Worker{{ID: 0, CPU: 0, Stats: &dataplane.WorkerStats{}}, {ID: 1, CPU: 1, Stats: &dataplane.WorkerStats{}}}
	m, err := New(Config{UsersFile: users}, Sources{
		Backend: backend,
		Workers: workers,
		Sync:    func() *SyncState { return &SyncState{Peer: "198.18.2.3:8848", Sent: 12} },
		Health: func(k api.ServiceKey, r netip.AddrPort) (health.Status, bool) {
			if r != real1 {
				return health.Status{}, false
			}
			return health.Status{Up: false, LastError: "connection refused", LastLatency: 1500 * time.Microsecond, Checks: 7, Failures: 3}, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(m.Handler())
	server.EnableHTTP2 = true
	server.StartTLS()
	t.Cleanup(server.Close)
	return &testMonitor{Monitor: m, backend: backend, server: server, usersFile: users}
}

// browser is an HTTPS client with its own cookies that does not follow
// redirects, so tests see them.
func (tm *testMonitor) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := *tm.server.Client() // a copy: Client returns one shared client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login fetches the form, posts it and returns the status of the answer.
func (tm *testMonitor) login(t *testing.T, c *http.Client, user, password string) *http.Response {
	t.Helper()
	form := tm.get(t, c, "/login")
	match := csrfInput.FindStringSubmatch(form)
	if match == nil {
		t.Fatalf("no csrf field in the login form:\n%s", form)
	}
	resp, err := c.PostForm(tm.server.URL+"/login", url.Values{"csrf": {match[1]}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (tm *testMonitor) get(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get(tm.server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func (tm *testMonitor) csrf(t *testing.T, c *http.Client) string {
	t.Helper()
	var info map[string]string
	if err := json.Unmarshal([]byte(tm.get(t, c, "/api/session")), &info); err != nil {
		t.Fatal(err)
	}
	return info["csrf"]
}

func (tm *testMonitor) change(t *testing.T, c *http.Client, token string, ch Change) int {
	t.Helper()
	body, _ := json.Marshal(ch)
	req, _ := http.NewRequest(http.MethodPost, tm.server.URL+"/api/real-server", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(csrfHeader, token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (tm *testMonitor) weightOf(t *testing.T, real netip.AddrPort) (int32, bool) {
	t.Helper()
	services, _ := tm.backend.ListServices()
	for _, rs := range services[0].RealServers {
		if rs.AddrPort() == real {
			return rs.Weight, true
		}
	}
	return 0, false
}

func TestLoginSetsAStrictSecureSession(t *testing.T) {
	tm := newTestMonitor(t)
	c := tm.browser(t)
	if resp, _ := c.Get(tm.server.URL + "/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the page without a session: %d to %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := tm.login(t, c, "ann", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", resp.StatusCode)
	}
	if resp := tm.login(t, c, "nobody", "ann-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user: status %d, want 401", resp.StatusCode)
	}
	resp := tm.login(t, c, "ann", "ann-password")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password: status %d, want 303", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || len(cookie.Value) < 40 {
		t.Fatalf("session cookie %+v, want Secure, HttpOnly, SameSite=Strict and a long random value", cookie)
	}
	if page := tm.get(t, c, "/"); !strings.Contains(page, "/static/app.js") {
		t.Fatalf("the page after login:\n%s", page)
	}
	// Logging out ends the session on the server.
	token := tm.csrf(t, c)
	req, _ := http.NewRequest(http.MethodPost, tm.server.URL+"/logout", nil)
	req.Header.Set(csrfHeader, token)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v %v", resp, err)
	}
	replay := tm.server.Client()
	req, _ = http.NewRequest(http.MethodGet, tm.server.URL+"/api/state", nil)
	req.AddCookie(cookie)
	if resp, _ := replay.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old session cookie after logout: status %d, want 401", resp.StatusCode)
	}
}

func TestLoginFormNeedsItsCSRFToken(t *testing.T) {
	tm := newTestMonitor(t)
	c := tm.browser(t)
	tm.get(t, c, "/login") // sets the pre-login cookie
	resp, err := c.PostForm(tm.server.URL+"/login", url.Values{"csrf": {"forged"}, "user": {"ann"}, "password": {"ann-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login with a forged token: status %d, want 403", resp.StatusCode)
	}
}

func TestLoginFailuresAreLimitedPerSource(t *testing.T) {
	tm := newTestMonitor(t)
	now := time.Unix(1_000_000, 0)
	tm.limiter.now = func() time.Time { return now }
	c := tm.browser(t)
	for i := range loginFailures {
		if resp := tm.login(t, c, "ann", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := tm.login(t, c, "ann", "ann-password")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("right password after %d failures: status %d, want 429 with Retry-After", loginFailures, resp.StatusCode)
	}
	now = now.Add(loginWindow)
	if resp := tm.login(t, c, "ann", "ann-password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password a window later: status %d, want 303", resp.StatusCode)
	}
}

func TestChangesNeedAnAdminAndTheCSRFToken(t *testing.T) {
	tm := newTestMonitor(t)
	anonymous := tm.browser(t)
	if got := tm.change(t, anonymous, "x", Change{Service: webKey, Real: real1, Action: actionWeight, Weight: 5}); got != http.StatusUnauthorized {
		t.Errorf("change without a session: %d, want 401", got)
	}
	viewer := tm.browser(t)
	tm.login(t, viewer, "vic", "vic-password")
	if got := tm.change(t, viewer, tm.csrf(t, viewer), Change{Service: webKey, Real: real1, Action: actionQuiesce}); got != http.StatusForbidden {
		t.Errorf("viewer's change: %d, want 403", got)
	}
	admin := tm.browser(t)
	tm.login(t, admin, "ann", "ann-password")
	if got := tm.change(t, admin, "", Change{Service: webKey, Real: real1, Action: actionQuiesce}); got != http.StatusForbidden {
		t.Errorf("admin's change without the CSRF token: %d, want 403", got)
	}
	if got := tm.change(t, admin, tm.csrf(t, viewer), Change{Service: webKey, Real: real1, Action: actionQuiesce}); got != http.StatusForbidden {
		t.Errorf("admin's change with another session's token: %d, want 403", got)
	}
	if w, _ := tm.weightOf(t, real1); w != 3 {
		t.Fatalf("refused changes changed the weight to %d", w)
	}
}

func TestAdminChangesGoThroughTheBackend(t *testing.T) {
	tm := newTestMonitor(t)
	admin := tm.browser(t)
	tm.login(t, admin, "ann", "ann-password")
	token := tm.csrf(t, admin)
	steps := []struct {
		change Change
		status int
		weight int32
	}{
		{Change{Action: actionWeight, Weight: 7}, http.StatusOK, 7},
		{Change{Action: actionQuiesce}, http.StatusOK, 0},
		{Change{Action: actionRestore}, http.StatusOK, 7},
		{Change{Action: actionWeight, Weight: -1}, http.StatusBadRequest, 7},
		{Change{Action: "explode"}, http.StatusBadRequest, 7},
	}
	for _, s := range steps {
		s.change.Service, s.change.Real = webKey, real1
		if got := tm.change(t, admin, token, s.change); got != s.status {
			t.Fatalf("%+v: status %d, want %d", s.change, got, s.status)
		}
		if w, _ := tm.weightOf(t, real1); w != s.weight {
			t.Fatalf("after %+v: weight %d, want %d", s.change, w, s.weight)
		}
	}
	unknown := netip.MustParseAddrPort("198.18.2.99:80")
	if got := tm.change(t, admin, token, Change{Service: webKey, Real: unknown, Action: actionQuiesce}); got != http.StatusNotFound {
		t.Fatalf("unknown real server: %d, want 404", got)
	}
	if got := tm.change(t, admin, token, Change{Service: webKey, Real: real2, Action: actionDrain}); got != http.StatusOK {
		t.Fatalf("drain: %d, want 200", got)
	}
	if _, present := tm.weightOf(t, real2); present {
		t.Fatal("a drained real server is still in the service")
	}
}

func TestEventsStreamStateWithCoreRates(t *testing.T) {
	tm := newTestMonitor(t)
	admin := tm.browser(t)
	tm.login(t, admin, "ann", "ann-password")
	start := time.Unix(2_000_000, 0)
	tm.sampler.record(start, make([]workerCounters, 2))
	counters := make([]workerCounters, 2)
	counters[1].rxPackets, counters[1].rxBytes = 2000, 128000
	counters[0].drops[dataplane.DropNoRealServer] = 4
	tm.sampler.record(start.Add(2*time.Second), counters)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tm.server.URL+"/api/events", nil)
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
		t.Fatalf("%v: %q", err, line)
	}
	if len(st.Cores) != 2 || len(st.Cores[1].Samples) != 1 || st.Cores[1].Samples[0].RxPackets != 1000 || st.Cores[1].Samples[0].RxBytes != 64000 {
		t.Fatalf("cores %+v, want worker 1 at 1000 pps and 64 kB/s", st.Cores)
	}
	if len(st.Drops) != 1 || st.Drops[0] != (DropRate{Reason: "no_real_server", Total: 4, Rate: 2}) {
		t.Fatalf("drops %+v", st.Drops)
	}
	if len(st.Services) != 1 || len(st.Services[0].Reals) != 2 {
		t.Fatalf("services %+v", st.Services)
	}
	if st.Sync == nil || *st.Sync != (SyncState{Peer: "198.18.2.3:8848", Sent: 12}) {
		t.Fatalf("sync %+v", st.Sync)
	}
	r1, r2 := st.Services[0].Reals[0], st.Services[0].Reals[1]
	if r1.Health.State != "down" || r1.Health.LastError != "connection refused" || r1.Health.LatencyMS != 1.5 || r2.Health.State != "unchecked" {
		t.Fatalf("health %+v / %+v", r1.Health, r2.Health)
	}
}

func TestSamplerKeepsALimitedHistory(t *testing.T) {
	workers := []*dataplane.Worker{{Stats: &dataplane.WorkerStats{}}}
	s := newSampler(Sources{Workers: workers}, 3)
	at := time.Unix(0, 0)
	for i := range 10 {
		c := []workerCounters{{rxPackets: uint64(i * 100)}}
		s.record(at.Add(time.Duration(i)*time.Second), c)
	}
	got := s.cores(false)[0].Samples
	if len(got) != 3 || got[2].RxPackets != 100 || got[2].At != 9000 {
		t.Fatalf("history %+v, want the last 3 samples at 100 pps", got)
	}
	if latest := s.cores(true)[0].Samples; len(latest) != 1 || latest[0] != got[2] {
		t.Fatalf("latest %+v", latest)
	}
}

func TestStaticAssetsAreSmall(t *testing.T) {
	total := 0
	for _, name := range []string{"index.html", "login.html", "app.js", "app.css"} {
		b, err := staticFiles.(interface{ ReadFile(string) ([]byte, error) }).ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
	}
	if total > 30_000 {
		t.Fatalf("assets are %d bytes, want under 30 kB", total)
	}
}

func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("# monitor users\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetUser(path, "ann", RoleViewer, "first"); err != nil {
		t.Fatal(err)
	}
	if err := SetUser(path, "ann", RoleAdmin, "second"); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	if strings.Count(string(text), "ann:") != 1 || !strings.HasPrefix(string(text), "# monitor users\n") || !strings.Contains(string(text), ":admin\n") {
		t.Fatalf("users file after an update:\n%s", text)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v, want 0600", info.Mode().Perm())
	}
	f, err := loadUserFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if role, err := f.authenticate("ann", "second"); err != nil || role != RoleAdmin {
		t.Fatalf("new password: %v %v", role, err)
	}
	if _, err := f.authenticate("ann", "first"); err == nil {
		t.Fatal("the old password still works")
	}
	for _, bad := range []string{"ann:plain:admin\n", "ann:$2a$10$abc:root\n", "no-colons\n", "bad name:$2a$10$x:admin\n"} {
		if _, err := parseUsers([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", bad, err)
		}
	}
	if err := SetUser(path, "eve", "root", "x"); err == nil {
		t.Error("role root accepted")
	}
}

func TestGeneratedCertificateIsKeptBesideTheUsersFile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", UsersFile: filepath.Join(dir, "users")}
	first, err := loadCertificate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, generatedKeyName)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("generated key: %v %v, want mode 0600", info, err)
	}
	second, err := loadCertificate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(first.Certificate[0]) != Fingerprint(second.Certificate[0]) {
		t.Fatal("a restart made a new certificate")
	}
	if first.Leaf == nil || first.Leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Fatalf("certificate %+v, want ECDSA", first.Leaf)
	}
}

func TestOnlyScriptAndStyleAreServedWithoutASession(t *testing.T) {
	tm := newTestMonitor(t)
	c := tm.browser(t)
	for path, want := range map[string]int{
		"/static/app.js": http.StatusOK, "/static/app.css": http.StatusOK,
		"/static/index.html": http.StatusNotFound, "/static/login.html": http.StatusNotFound, "/static/": http.StatusNotFound,
		"/api/state": http.StatusUnauthorized, "/api/events": http.StatusUnauthorized,
	} {
		resp, err := c.Get(tm.server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a session: %d, want %d", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
}

func TestSessionsFollowTheUsersFile(t *testing.T) {
	tm := newTestMonitor(t)
	admin, viewer := tm.browser(t), tm.browser(t)
	tm.login(t, admin, "ann", "ann-password")
	tm.login(t, viewer, "vic", "vic-password")
	if err := SetUser(tm.usersFile, "ann", RoleViewer, "ann-password"); err != nil {
		t.Fatal(err)
	}
	if got := tm.change(t, admin, tm.csrf(t, admin), Change{Service: webKey, Real: real1, Action: actionQuiesce}); got != http.StatusForbidden {
		t.Errorf("change by an admin made viewer since login: %d, want 403", got)
	}
	text, _ := os.ReadFile(tm.usersFile)
	var kept []string
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "vic:") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(tm.usersFile, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := viewer.Get(tm.server.URL + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a removed user's session: %d, want 401", resp.StatusCode)
	}
}
