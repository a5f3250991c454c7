package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

// nginxServer is one real server's nginx: its directory (config, logs,
// uploads, the download file) and process.
type nginxServer struct {
	name, dir string
	process   *testbed.Process
}

// nginxConfig serves, on addr:80 with the PROXY protocol: / answering
// "name client-addr:client-port" as the header told it, /down a 1 MB file,
// and PUT /up/ storing uploads; every request is logged with the header's
// client address and port.
func nginxConfig(name, dir, addr string) string {
	return fmt.Sprintf(`daemon off;
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
	client_body_temp_path %[1]s/tmp-body;
	proxy_temp_path %[1]s/tmp-proxy;
	fastcgi_temp_path %[1]s/tmp-fastcgi;
	uwsgi_temp_path %[1]s/tmp-uwsgi;
	scgi_temp_path %[1]s/tmp-scgi;
	log_format client '$proxy_protocol_addr:$proxy_protocol_port $request_method $uri $status';
	access_log %[1]s/access.log client;
	client_max_body_size 4m;
	server {
		listen %[3]s proxy_protocol;
		location = / { return 200 "%[2]s $proxy_protocol_addr:$proxy_protocol_port\n"; }
		location = /down { alias %[1]s/big; }
		location /up/ { root %[1]s; dav_methods PUT; create_full_put_path on; }
	}
}
`, dir, name, net.JoinHostPort(addr, "80"))
}

// startNginx runs nginx in each real server's namespace and stops it (by
// its PID) when the test ends. Every server offers the same download.
func startNginx(t *testing.T, topo *testbed.Topology, realAddrs []string, download []byte) []*nginxServer {
	t.Helper()
	var servers []*nginxServer
	for i, r := range topo.Reals {
		s := &nginxServer{name: fmt.Sprintf("r%d", i+1), dir: t.TempDir()}
		conf := filepath.Join(s.dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConfig(s.name, s.dir, realAddrs[i])), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "big"), download, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := testbed.StartProcess(r.Command("nginx", "-p", s.dir, "-c", conf, "-e", filepath.Join(s.dir, "error.log")))
		if err != nil {
			t.Fatalf("start nginx on %s: %v", s.name, err)
		}
		s.process = p
		t.Cleanup(func() { p.Stop(syscall.SIGTERM, 5*time.Second) })
		servers = append(servers, s)
	}
	for i, s := range servers {
		if err := waitListening(topo.Reals[i], net.JoinHostPort(realAddrs[i], "80")); err != nil {
			t.Fatalf("nginx on %s: %v\n%s", s.name, err, s.process.Output())
		}
	}
	return servers
}

func waitListening(h *testbed.Host, addr string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := h.DialFrom(context.Background(), "tcp", "", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientConn is an HTTP client from one client of the topology whose every
// request opens a new connection; it records each connection's local
// address (the client address the real server must be told).
type clientConn struct {
	base   string // the service's URL ("http://vip")
	client *http.Client
	mu     sync.Mutex
	locals map[string]bool
}

func newClientConn(h *testbed.Host, localIP, base string) *clientConn {
	cc := &clientConn{base: base, locals: map[string]bool{}}
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := h.DialFrom(ctx, network, localIP, addr)
			if err == nil {
				cc.mu.Lock()
				cc.locals[c.LocalAddr().String()] = true
				cc.mu.Unlock()
			}
			return c, err
		}}
	cc.client = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	return cc
}

// do sends one request and returns the body; a status other than want is an
// error.
func (cc *clientConn) do(ctx context.Context, method, url string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	resp, err := cc.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if resp.StatusCode != want {
		return got, fmt.Errorf("%s %s: status %s", method, url, resp.Status)
	}
	return got, nil
}

// TestFullNATProxyProtocol: FULLNAT with client_address proxy_v1 and
// proxy_v2 to three nginx real servers (weights 1, 2, 3) that have no
// route to the clients. From two clients, 300 requests (each on its own
// connection) are answered with the address:port nginx read from the PROXY
// header, which is the client's own (also with the SYN proxy in front:
// both sequence offsets in one adjustment); 1 MB downloads arrive intact and 1 MB
// uploads are stored intact (the stream is shifted both ways); every access
// log line names a client address and port that really connected.
func TestFullNATProxyProtocol(t *testing.T) {
	download := make([]byte, 1<<20)
	rand.Read(download)
	for _, way := range []string{"proxy_v1", "proxy_v2", "proxy_v2, synproxy: true"} {
		t.Run(way, func(t *testing.T) {
			topo := fullnatNetwork(t, "fpp", 1)
			servers := startNginx(t, topo, topo.RealAddrs, download)
			cfg := strings.Replace(fullnatConfig(), "forward: fullnat,", "forward: fullnat, client_address: "+way+",", 1)
			startDirector(t, topo, cfg)

			const requests, transfers = 300, 4 // transfers per client and direction
			rs, clients := driveTold(t, topo, topo.ClientAddrs, "http://198.18.0.10", requests)
			transfer(t, clients, download, transfers)
			checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
			checkUploads(t, servers, download, len(clients), transfers)
			checkAccessLogs(t, servers, clients, requests+2*len(clients)*transfers)
		})
	}
}

// driveTold sends n GETs of / spread over the topology's clients (in
// parallel per client), each on a new connection, and checks that every
// answer ("server client-address:port") names a connection its client
// really opened: the real server was told the real client.
func driveTold(t *testing.T, topo *testbed.Topology, clientAddrs []string, base string, n int) ([]response, []*clientConn) {
	t.Helper()
	clients := make([]*clientConn, len(topo.Clients))
	for i, h := range topo.Clients {
		clients[i] = newClientConn(h, clientAddrs[i], base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var rs []response
	var errs []error
	var wg sync.WaitGroup
	for i, cc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < n; k += len(clients) {
				r, err := cc.getTold(ctx)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("client %s: %w", clientAddrs[i], err))
				} else {
					rs = append(rs, r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", len(errs), n, errs[0])
	}
	return rs, clients
}

// getTold fetches / and checks the client the server was told.
func (cc *clientConn) getTold(ctx context.Context) (response, error) {
	body, err := cc.do(ctx, http.MethodGet, cc.base+"/", nil, http.StatusOK)
	if err != nil {
		return response{}, err
	}
	r, err := parseResponse(string(body))
	if err != nil {
		return response{}, err
	}
	r.client = addrPortText(r.client)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.locals[r.client] {
		return r, fmt.Errorf("%s was told client %s, not a connection of this client", r.server, r.client)
	}
	return r, nil
}

// transfer has every client download the file and upload a variant of it
// n times each, each on a new connection.
func transfer(t *testing.T, clients []*clientConn, download []byte, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	errs := make(chan error, 2*n*len(clients))
	var wg sync.WaitGroup
	for i, cc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range n {
				got, err := cc.do(ctx, http.MethodGet, cc.base+"/down", nil, http.StatusOK)
				if err == nil && !bytes.Equal(got, download) {
					err = fmt.Errorf("download %d from client %d: %d bytes, not the file", k, i, len(got))
				}
				if err != nil {
					errs <- err
				}
				up := uploadOf(download, i, k)
				if _, err := cc.do(ctx, http.MethodPut, fmt.Sprintf("%s/up/c%d-%d", cc.base, i, k), up, http.StatusCreated); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err, ok := <-errs; ok {
		t.Fatalf("%d transfers failed; first: %v", len(errs)+1, err)
	}
}

// uploadOf is the body client i uploads the k-th time: the download
// rotated, so that every upload differs.
func uploadOf(download []byte, i, k int) []byte {
	r := (i*7 + k*13 + 1) * 4099 % len(download)
	return append(append([]byte(nil), download[r:]...), download[:r]...)
}

// checkUploads: every upload is stored, byte for byte, on one server.
func checkUploads(t *testing.T, servers []*nginxServer, download []byte, clients, transfers int) {
	t.Helper()
	for i := range clients {
		for k := range transfers {
			name := fmt.Sprintf("c%d-%d", i, k)
			found := 0
			for _, s := range servers {
				got, err := os.ReadFile(filepath.Join(s.dir, "up", name))
				if err != nil {
					continue
				}
				found++
				if !bytes.Equal(got, uploadOf(download, i, k)) {
					t.Fatalf("upload %s on %s: %d bytes differ from what the client sent", name, s.name, len(got))
				}
			}
			if found != 1 {
				t.Fatalf("upload %s stored on %d servers, want 1", name, found)
			}
		}
	}
}

// checkAccessLogs: the servers logged want requests, every one with the
// address and port of a connection a client really opened.
func checkAccessLogs(t *testing.T, servers []*nginxServer, clients []*clientConn, want int) {
	t.Helper()
	known := map[string]bool{}
	for _, cc := range clients {
		for a := range cc.locals {
			known[a] = true
		}
	}
	lines := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines = 0
		var bad string
		for _, s := range servers {
			log, _ := os.ReadFile(filepath.Join(s.dir, "access.log"))
			for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
				if line == "" {
					continue
				}
				lines++
				if client, _, _ := strings.Cut(line, " "); !known[addrPortText(client)] && bad == "" {
					bad = s.name + ": " + line
				}
			}
		}
		if bad != "" {
			t.Fatalf("access log line names no client connection: %s", bad)
		}
		if lines == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lines != want {
		t.Fatalf("access logs hold %d lines, want %d", lines, want)
	}
}

// fullnatVIP6 is the IPv6 VIP of fullnatNetwork6.
const fullnatVIP6 = "2001:2::10"

// fullnatNetwork6 is the NAT topology with IPv6 added: clients in
// 2001:2:1::/64 routed through the director, real servers in 2001:2:2::/64
// with a route to the FULLNAT local addresses' 2001:2:3::/64 only. It
// returns the clients' and real servers' IPv6 addresses and the real
// servers as a config list (weights 1, 2, 3).
func fullnatNetwork6(t *testing.T, prefix string) (topo *testbed.Topology, clientAddrs, realAddrs []string, reals string) {
	t.Helper()
	topo, err := testbed.BuildTopology(testbed.ForTest(t, prefix), testbed.TopologyOptions{Mode: testbed.ModeNAT})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(topo.Director.Sysctl("net.ipv6.conf.all.forwarding", "1"))
	must(topo.Director.AddAddr("eth1", "2001:2:1::1/64"))
	must(topo.Director.AddAddr("eth1", "2001:2:2::1/64"))
	must(topo.Director.AddAddr("eth1", fullnatVIP6+"/128"))
	for i, c := range topo.Clients {
		a := fmt.Sprintf("2001:2:1::%d", 11+i)
		must(c.AddAddr("eth0", a+"/64"))
		must(c.AddRoute("::/0", "2001:2:1::1"))
		clientAddrs = append(clientAddrs, a)
	}
	for i, r := range topo.Reals {
		a := fmt.Sprintf("2001:2:2::%d", 11+i)
		must(r.AddAddr("eth0", a+"/64"))
		must(r.AddRoute("2001:2:3::/64", "2001:2:2::1"))
		if out, err := r.Run("ip", "-6", "route", "get", clientAddrs[0]); err == nil {
			t.Fatalf("real server %s has a route to the clients: %s", r.Name, out)
		}
		realAddrs = append(realAddrs, a)
		reals += fmt.Sprintf("{address: '%s', weight: %d}, ", a, i+1)
	}
	return topo, clientAddrs, realAddrs, reals
}

// fullnatConfig6 is one wrr FULLNAT TCP service on port 80 of fullnatVIP6.
func fullnatConfig6(clientAddress, reals string) string {
	return fmt.Sprintf(`interfaces: [eth1]
services:
  - {vip: '%s', port: 80, protocol: tcp, scheduler: wrr, forward: fullnat, client_address: %s,
     local_addresses: ['2001:2:3::1', '2001:2:3::2'], health_check: {type: none}, real_servers: [%s]}
`, fullnatVIP6, clientAddress, reals)
}

// TestFullNATProxyProtocolIPv6: the same over IPv6 (clients in
// 2001:2:1::/64, real servers in 2001:2:2::/64 with a route to the local
// addresses' 2001:2:3::/64 only), proxy_v1 and proxy_v2.
func TestFullNATProxyProtocolIPv6(t *testing.T) {
	download := make([]byte, 1<<20)
	rand.Read(download)
	for _, way := range []string{"proxy_v1", "proxy_v2"} {
		t.Run(way, func(t *testing.T) {
			topo, clientAddrs, realAddrs, reals := fullnatNetwork6(t, "fp6")
			servers := startNginx(t, topo, realAddrs, download)
			startDirector(t, topo, fullnatConfig6(way, reals))
			const requests, transfers = 300, 2
			rs, clients := driveTold(t, topo, clientAddrs, "http://["+fullnatVIP6+"]", requests)
			transfer(t, clients, download, transfers)
			checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
			checkUploads(t, servers, download, len(clients), transfers)
			checkAccessLogs(t, servers, clients, requests+2*len(clients)*transfers)
		})
	}
}

// addrPortText writes "address:port" as Go does ("[v6]:port"); nginx
// writes IPv6 without brackets. Anything unparsable stays as it is.
func addrPortText(s string) string {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s
	}
	a, err := netip.ParseAddr(strings.Trim(s[:i], "[]"))
	port, err2 := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || err2 != nil {
		return s
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// haproxyConfig answers every request on addr:80 (PROXY protocol required)
// with "name client-address:port" as haproxy read them from the header.
func haproxyConfig(name, addr string) string {
	return fmt.Sprintf(`global
	maxconn 512
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend fe
	bind %s accept-proxy
	http-request return status 200 content-type text/plain lf-string "%s %%[src]:%%[src_port]\n"
`, net.JoinHostPort(addr, "80"), name)
}

// TestFullNATProxyProtocolHAProxy: haproxy real servers with accept-proxy
// (two workers on a two-queue interface, ten clients): every one of 300
// requests is answered with the client's own address and port, shares per
// weights.
func TestFullNATProxyProtocolHAProxy(t *testing.T) {
	for _, way := range []string{"proxy_v1", "proxy_v2"} {
		t.Run(way, func(t *testing.T) {
			topo := fullnatNetwork(t, "fph", 2)
			for i, r := range topo.Reals {
				dir := t.TempDir()
				conf := filepath.Join(dir, "haproxy.cfg")
				if err := os.WriteFile(conf, []byte(haproxyConfig(fmt.Sprintf("r%d", i+1), topo.RealAddrs[i])), 0o644); err != nil {
					t.Fatal(err)
				}
				p, err := testbed.StartProcess(r.Command("haproxy", "-db", "-f", conf))
				if err != nil {
					t.Fatalf("start haproxy: %v", err)
				}
				t.Cleanup(func() { p.Stop(syscall.SIGTERM, 5*time.Second) })
				if err := waitListening(r, net.JoinHostPort(topo.RealAddrs[i], "80")); err != nil {
					t.Fatalf("haproxy on r%d: %v\n%s", i+1, err, p.Output())
				}
			}
			cfg := strings.Replace(fullnatConfig(), "forward: fullnat,", "forward: fullnat, client_address: "+way+",", 1)
			startDirector(t, topo, cfg)
			rs, _ := driveTold(t, topo, topo.ClientAddrs, "http://198.18.0.10", 300)
			checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
		})
	}
}

// serveProxiedUDP answers every datagram on addr:7 that starts with a PROXY
// v2 DGRAM header with "name client-address:port" as the header says (and
// "name none" without one), until the test ends.
func serveProxiedUDP(t *testing.T, h *testbed.Host, name, addr string) {
	t.Helper()
	pc, err := h.ListenPacket("udp4", net.JoinHostPort(addr, "7"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			answer := name + " none"
			if client, ok := proxyV2Client(buf[:n]); ok {
				answer = name + " " + client.String()
			}
			pc.WriteTo([]byte(answer), from)
		}
	}()
}

// proxyV2Client reads the source of an IPv4 PROXY v2 header over UDP
// (proxy-protocol.txt section 2.2), written here from the spec.
func proxyV2Client(b []byte) (netip.AddrPort, bool) {
	const sig = "\r\n\r\n\x00\r\nQUIT\n"
	if len(b) < 28 || string(b[:12]) != sig || b[12] != 0x21 || b[13] != 0x12 {
		return netip.AddrPort{}, false
	}
	if 16+int(b[14])<<8|int(b[15]) > len(b) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), uint16(b[24])<<8|uint16(b[25])), true
}

// TestFullNATProxyProtocolUDP: proxy_v2 on a FULLNAT UDP service: 300
// datagrams from two clients (each from a new socket: a new flow) are each
// answered by a real server that read the client's own address and port
// from the header in front of the datagram; shares per weights.
func TestFullNATProxyProtocolUDP(t *testing.T) {
	topo := fullnatNetwork(t, "fpu", 1)
	for i, r := range topo.Reals {
		serveProxiedUDP(t, r, fmt.Sprintf("r%d", i+1), topo.RealAddrs[i])
	}
	cfg := strings.Replace(fullnatConfig(), "forward: fullnat,", "forward: fullnat, client_address: proxy_v2,", 2)
	startDirector(t, topo, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rs []response
	for k := range 300 {
		i := k % len(topo.Clients)
		conn, err := topo.Clients[i].DialFrom(ctx, "udp4", topo.ClientAddrs[i], "198.18.0.10:7")
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		_, err = conn.Write([]byte("hello"))
		n := 0
		if err == nil {
			n, err = conn.Read(buf)
		}
		local := conn.LocalAddr().String()
		conn.Close()
		if err != nil {
			t.Fatalf("datagram %d from %s: %v", k, local, err)
		}
		r, err := parseResponse(string(buf[:n]))
		if err != nil {
			t.Fatal(err)
		}
		if r.client != local {
			t.Fatalf("datagram %d: %s read client %s from the header, want %s", k, r.server, r.client, local)
		}
		rs = append(rs, r)
	}
	checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
}
