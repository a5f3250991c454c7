package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fastlvs/testbed"
)

// monitorAddr is where the monitor listens inside the director's namespace.
const monitorAddr = "127.0.0.1:9443"

// monitorScreenshotEnv names a file the browser test saves a screenshot of
// the page under load to (docs/monitor.png); unset, it takes none.
const monitorScreenshotEnv = "FASTLVS_MONITOR_SCREENSHOT"

func monitorConfig(usersFile string) string {
	return fmt.Sprintf(`interfaces: [eth1]
monitor: {listen: %s, users_file: %s}
services:
  - {name: web, vip: 198.18.0.10, port: 80, protocol: tcp, scheduler: wrr, forward: nat,
     health_check: {type: tcp, interval: 500ms, timeout: 300ms, rise: 1, fall: 2},
     real_servers: [{address: 198.18.2.11, port: 80, weight: 1}, {address: 198.18.2.12, port: 80, weight: 1}]}
`, monitorAddr, usersFile)
}

// TestMonitorInABrowser drives the web monitor with headless Chromium: the
// login page over HTTPS, a wrong password refused, the services and real
// servers with their health, the per-core rate rising under traffic, an
// admin's weight 0 that keeps new connections off a server; then, with a
// plain HTTP client, a viewer's change refused by the server and plain HTTP
// on the port refused.
func TestMonitorInABrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the browser test needs Chromium (Debian package chromium): %v", err)
	}
	bed := testbed.ForTest(t, "fmon")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Clients: 2, Reals: 2, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "monitor-users")
	addUser(t, users, "ann", "admin", "ann-password")
	addUser(t, users, "vic", "viewer", "vic-password")
	d := startDirector(t, topo, monitorConfig(users))
	if !regexp.MustCompile(`msg="monitor certificate".*sha256=[0-9A-F]{64}`).MatchString(d.output.String()) {
		t.Fatalf("no certificate fingerprint logged:\n%s", d.output)
	}
	base := "https://" + forwardInto(t, topo.Director, monitorAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocator, cancelAllocator := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 720))...)
	defer cancelAllocator()
	browser, cancelBrowser := chromedp.NewContext(allocator)
	defer cancelBrowser()
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(browser, actions...); err != nil {
			t.Fatalf("%s: %v\nfastlvs output:\n%s", what, err, lastLines(d.output.String(), 30))
		}
	}

	var location, loginError string
	run("open the login page",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#login"), chromedp.Location(&location))
	if location != base+"/login" {
		t.Fatalf("the page without a session went to %s, want %s/login", location, base)
	}
	run("log in with a wrong password",
		chromedp.SendKeys("#user", "ann"), chromedp.SendKeys("#password", "wrong"), chromedp.Click("#login-submit"),
		chromedp.WaitVisible("#login-error"), chromedp.Text("#login-error", &loginError))
	if !strings.Contains(loginError, "Wrong user name or password") {
		t.Fatalf("wrong password answered %q", loginError)
	}
	run("log in as the admin",
		chromedp.SetValue("#user", "ann"), chromedp.SendKeys("#password", "ann-password"), chromedp.Click("#login-submit"),
		chromedp.WaitVisible(`[data-service="TCP 198.18.0.10:80"]`))
	for _, real := range []string{"198.18.2.11:80", "198.18.2.12:80"} {
		run("real server "+real+" shown up", chromedp.WaitVisible(fmt.Sprintf(`tr[data-real=%q] .health[data-state="up"]`, real)))
	}
	var firstPaint float64
	run("reload and read the first paint", chromedp.Reload(), chromedp.WaitVisible(`[data-service="TCP 198.18.0.10:80"]`),
		chromedp.Evaluate(`(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`, &firstPaint))
	t.Logf("first contentful paint of the page (reloaded, logged in): %.0f ms", firstPaint)

	// Live traffic makes a core's rate rise on the page. The load is bounded
	// in count and time; its failures are not the test's concern.
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Add(1)
	go func() {
		defer traffic.Done()
		loadCtx, cancelLoad := context.WithTimeout(ctx, 40*time.Second)
		defer cancelLoad()
		for i := range 20000 {
			select {
			case <-stop:
				return
			case <-loadCtx.Done():
				return
			default:
			}
			_, _ = request(loadCtx, topo, i%len(topo.Clients), "tcp", "198.18.0.10", 80)
		}
	}()
	var peak float64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && peak == 0; time.Sleep(250 * time.Millisecond) {
		run("read the per-core rates", chromedp.Evaluate(
			`Math.max(0, ...[...document.querySelectorAll('[id^="core-"][id$="-rx"]')].map(e => Number(e.dataset.value)))`, &peak))
	}
	if path := os.Getenv(monitorScreenshotEnv); path != "" {
		time.Sleep(20 * time.Second) // some chart
		var png []byte
		run("screenshot", chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	traffic.Wait()
	if peak <= 0 {
		t.Fatal("the per-core packet rate on the page stayed 0 under traffic")
	}
	t.Logf("per-core rate on the page under traffic: %.0f pps", peak)

	// The admin sets r1's weight to 0: new connections avoid it.
	r1 := `tr[data-real="198.18.2.11:80"]`
	run("set r1's weight to 0",
		chromedp.SetValue(r1+" input.weight", "0"), chromedp.Click(r1+` button[data-action="weight"]`),
		chromedp.WaitVisible(`tr[data-real="198.18.2.11:80"][data-weight="0"]`))
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 40)); got["r1"] != 0 || got["r2"] != 40 {
		t.Fatalf("after the admin set r1's weight to 0: %v, want every connection on r2", got)
	}
	if !regexp.MustCompile(`msg="monitor change" user=ann action=weight .*real_server=198.18.2.11:80 weight=0`).MatchString(d.output.String()) {
		t.Errorf("the change is not logged with the user's name:\n%s", lastLines(d.output.String(), 20))
	}

	// A viewer is refused by the server, whatever the page shows.
	viewer := monitorClient(t, topo.Director)
	if status := viewer.login(t, base, "vic", "vic-password"); status != http.StatusSeeOther {
		t.Fatalf("viewer login: status %d, want 303", status)
	}
	if status := viewer.post(t, base+"/api/real-server",
		`{"service":{"protocol":"tcp","address":"198.18.0.10","port":80},"real":"198.18.2.12:80","action":"quiesce"}`); status != http.StatusForbidden {
		t.Fatalf("viewer's quiesce: status %d, want 403", status)
	}
	if got := shares(drive(t, topo, "tcp", "198.18.0.10", 80, 10)); got["r2"] != 10 {
		t.Fatalf("after the viewer's refused quiesce: %v, want r2 still serving", got)
	}

	// Plain HTTP on the monitor's port gets no page.
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: topo.Director.DialContext}}
	if resp, err := plain.Get("http://" + monitorAddr + "/login"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "password") {
			t.Fatalf("plain HTTP answered %d:\n%s", resp.StatusCode, body)
		}
	}
}

// addUser runs `fastlvs passwd`, the password on stdin.
func addUser(t *testing.T, usersFile, name, role, password string) {
	t.Helper()
	cmd := exec.Command(binary, "passwd", "--users-file", usersFile, "--role", role, name)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fastlvs passwd %s: %v\n%s", name, err, out)
	}
}

// forwardInto listens on a loopback port of the test's namespace and
// forwards each connection to addr inside host's namespace, so a browser
// started outside the namespace reaches the monitor. It returns the local
// address.
func forwardInto(t *testing.T, host *testbed.Host, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				inner, err := host.DialContext(ctx, "tcp", addr)
				if err != nil {
					return
				}
				defer inner.Close()
				go func() { io.Copy(inner, conn); inner.Close() }()
				io.Copy(conn, inner)
			}()
		}
	}()
	return ln.Addr().String()
}

// monitorHTTP is a plain Go client of the monitor with its own cookies.
type monitorHTTP struct {
	client *http.Client
	csrf   string
}

func monitorClient(t *testing.T, host *testbed.Host) *monitorHTTP {
	jar, _ := cookiejar.New(nil)
	return &monitorHTTP{client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return host.DialContext(ctx, network, monitorAddr)
			},
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the monitor's self-signed certificate
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var loginCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login posts the login form and keeps the session's CSRF token.
func (c *monitorHTTP) login(t *testing.T, base, user, password string) int {
	t.Helper()
	resp, err := c.client.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	match := loginCSRF.FindSubmatch(form)
	if match == nil {
		t.Fatalf("no csrf field in the login form:\n%s", form)
	}
	resp, err = c.client.PostForm(base+"/login", url.Values{"csrf": {string(match[1])}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		var session struct{ CSRF string }
		resp, err := c.client.Get(base + "/api/session")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&session); err != nil {
			t.Fatal(err)
		}
		c.csrf = session.CSRF
	}
	return resp.StatusCode
}

func (c *monitorHTTP) post(t *testing.T, target, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
