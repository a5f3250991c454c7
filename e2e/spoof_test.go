package e2e

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// spoofConfig is one UDP NAT service on a two-arm director with one real
// server, so the client's connection and its reply tuple are known.
const spoofConfig = `interfaces: [eth0, eth1]
services:
  - {vip: 198.18.0.10, port: 7, protocol: udp, scheduler: rr, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.11, port: 7}]}
`

// TestSpoofedReplyFromClientSide: a datagram forged from the real server's
// address and port to a client's tracked NAT connection (its reply tuple,
// exactly) arrives by the clients' arm, sent by another client. fastlvs
// drops every one as spoofed_reply (counted in the metrics); the client's
// socket, which would receive it translated (from the VIP), never does, and
// the real server's own answers still come through.
func TestSpoofedReplyFromClientSide(t *testing.T) {
	bed := testbed.ForTest(t, "edsp")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, TwoArm: true, Reals: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(0, 7); err != nil {
		t.Fatal(err)
	}
	startDirector(t, topo, spoofConfig, "--metrics", metricsAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := topo.Clients[0].DialContext(ctx, "udp4", net.JoinHostPort(testbed.DefaultVIP, "7"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func(what string) {
		t.Helper()
		buf := make([]byte, 512)
		for try := 0; try < 20; try++ { // the first ones wait for neighbour resolution
			conn.Write([]byte(what))
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := conn.Read(buf)
			if err == nil && strings.HasPrefix(string(buf[:n]), "r1 ") {
				return
			}
		}
		t.Fatalf("no answer to %q from the real server", what)
	}
	ask("open")

	// The attacker, the other client, routes the client's address through
	// the director, so its forged datagrams arrive by the clients' arm.
	attacker := topo.Clients[1]
	if _, err := attacker.Run("ip", "route", "add", topo.ClientAddrs[0]+"/32", "via", testbed.ClientGateway); err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := attacker.Do(func() (err error) { fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); return err }); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	client := netip.MustParseAddrPort(conn.LocalAddr().String())
	real := netip.MustParseAddr(topo.RealAddrs[0]).As4()
	before := scrape(t, metricsScraper(topo)).sum("fastlvs_worker_dropped_packets_total", `reason="spoofed_reply"`)
	const forged = 5
	var pkt [20 + 8 + 16]byte
	for range forged {
		buildSpoofed(pkt[:], unix.IPPROTO_UDP, real, client, 7, 0)
		if err := unix.Sendto(fd, pkt[:], 0, &unix.SockaddrInet4{Addr: client.Addr().As4()}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("the client received %q: a forged reply went through", buf[:n])
	}
	time.Sleep(1100 * time.Millisecond) // the workers publish their counters once per batch, metrics per stats interval
	dropped := scrape(t, metricsScraper(topo)).sum("fastlvs_worker_dropped_packets_total", `reason="spoofed_reply"`) - before
	if dropped != forged {
		t.Fatalf("spoofed_reply grew by %v, want %d", dropped, forged)
	}
	ask("still there")
}
