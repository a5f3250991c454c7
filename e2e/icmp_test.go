package e2e

import (
	"bytes"
	"context"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"fastlvs/testbed"
	"fastlvs/tunnel"
)

// The ICMP topology puts a router between the client and the director, whose
// client-side port has MTU 1400 while every other link has 1500 (the
// client's own port too, so its SYN offers an MSS of 1460 and only path-MTU
// discovery can shrink the real server's segments). The VIP is routed to
// the director but is none of its kernel's addresses: whatever answers for
// it is fastlvs.
//
//	client 198.18.1.11 ─[1500|1400]─ router ── 198.18.4.2 director 198.18.2.1 ── 198.18.2.11 real server
const (
	icmpVIP    = "198.18.0.10"
	icmpClient = "198.18.1.11"
	icmpReal   = "198.18.2.11"
	icmpLocal  = "198.18.3.1" // FULLNAT local address
	// IPv6 (NAT only): the same picture in 2001:2::/48.
	icmpVIP6     = "2001:2::10"
	icmpClient6  = "2001:2:1::11"
	icmpReal6    = "2001:2:2::11"
	bottleneck   = 1400
	downloadSize = 1 << 20
)

type icmpBed struct {
	client, router, director, real *testbed.Host
}

func buildICMPBed(t *testing.T, prefix, forward string, queues int) icmpBed {
	t.Helper()
	bed := testbed.ForTest(t, prefix)
	host := func(name string) *testbed.Host {
		h, err := bed.Host(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(h *testbed.Host, args ...string) {
		t.Helper()
		if out, err := h.Run(args...); err != nil {
			t.Fatalf("%s: %v: %s", h.Name, err, out)
		}
	}
	b := icmpBed{client: host("c"), router: host("rt"), director: host("dir"), real: host("r1")}
	one, dir := testbed.LinkOptions{Queues: 1}, testbed.LinkOptions{Queues: queues} // a worker per queue
	must(bed.Connect(b.client, "eth0", b.router, "eth0", one))
	must(bed.Connect(b.router, "eth1", b.director, "eth0", dir))
	must(bed.Connect(b.director, "eth1", b.real, "eth0", dir))
	if forward != "tun" { // the tunnel's bottleneck is its own overhead
		run(b.router, "ip", "link", "set", "eth0", "mtu", fmt.Sprint(bottleneck))
	}

	must(b.client.AddAddr("eth0", icmpClient+"/24"))
	must(b.client.AddRoute("default", "198.18.1.1"))
	must(b.router.AddAddr("eth0", "198.18.1.1/24"))
	must(b.router.AddAddr("eth1", "198.18.4.1/24"))
	must(b.router.Sysctl("net.ipv4.ip_forward", "1"))
	must(b.router.AddRoute("198.18.0.0/24", "198.18.4.2"))
	must(b.director.AddAddr("eth0", "198.18.4.2/24"))
	must(b.director.AddAddr("eth1", "198.18.2.1/24"))
	must(b.director.AddRoute("default", "198.18.4.1"))
	must(b.director.Sysctl("net.ipv4.ip_forward", "1"))
	must(b.real.AddAddr("eth0", icmpReal+"/24"))
	for _, h := range []*testbed.Host{b.router, b.director} {
		must(h.Sysctl("net.ipv6.conf.all.forwarding", "1"))
	}
	must(b.client.AddAddr("eth0", icmpClient6+"/64"))
	must(b.client.AddRoute("::/0", "2001:2:1::1"))
	must(b.router.AddAddr("eth0", "2001:2:1::1/64"))
	must(b.router.AddAddr("eth1", "2001:2:4::1/64"))
	must(b.router.AddRoute("2001:2::/64", "2001:2:4::2"))
	must(b.director.AddAddr("eth0", "2001:2:4::2/64"))
	must(b.director.AddAddr("eth1", "2001:2:2::1/64"))
	must(b.director.AddRoute("::/0", "2001:2:4::1"))
	must(b.real.AddAddr("eth0", icmpReal6+"/64"))
	if forward == "nat" {
		must(b.real.AddRoute("::/0", "2001:2:2::1"))
	}
	switch forward {
	case "fullnat":
		must(b.real.AddRoute("198.18.3.0/24", "198.18.2.1"))
	case "dr", "tun":
		must(b.real.AddRoute("default", "198.18.2.1"))
		run(b.real, "ip", "addr", "add", icmpVIP+"/32", "dev", "lo")
		for _, iface := range []string{"all", "eth0"} {
			must(b.real.Sysctl("net.ipv4.conf."+iface+".arp_ignore", "1"))
			must(b.real.Sysctl("net.ipv4.conf."+iface+".arp_announce", "2"))
		}
	default:
		must(b.real.AddRoute("default", "198.18.2.1"))
	}
	return b
}

func icmpConfig(forward string) string {
	extra := ""
	if forward == "fullnat" {
		extra = ", local_addresses: [" + icmpLocal + "]"
	}
	cfg := "interfaces: [eth0, eth1]\nservices:\n"
	for _, svc := range []string{"port: 80, protocol: tcp", "port: 7, protocol: udp"} {
		cfg += fmt.Sprintf("  - {vip: %s, %s, scheduler: rr, forward: %s%s, health_check: {type: none}, real_servers: [{address: %s}]}\n",
			icmpVIP, svc, forward, extra, icmpReal)
		if forward == "nat" {
			cfg += fmt.Sprintf("  - {vip: '%s', %s, scheduler: rr, forward: nat, health_check: {type: none}, real_servers: [{address: '%s'}]}\n",
				icmpVIP6, svc, icmpReal6)
		}
	}
	return cfg
}

// serveDownload serves downloadSize bytes to every request on the real
// server's port 80.
func serveDownload(t *testing.T, h *testbed.Host) {
	t.Helper()
	l, err := h.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("fastlvs "), downloadSize/8)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// httpClientIn is an HTTP client whose connections start inside h.
func httpClientIn(h *testbed.Host) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialContext(ctx, network, addr)
		}}}
}

// download fetches 1 MB from the VIP (a URL host) and says how long it took.
func download(t *testing.T, client *testbed.Host, vip string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hc := httpClientIn(client)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+vip+"/", nil)
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != downloadSize {
		t.Fatalf("download stalled after %d of %d bytes in %v: %v", n, downloadSize, time.Since(start), err)
	}
	return time.Since(start)
}

// TestPathMTUThroughDirector: a 1 MB download through a 1400-byte bottleneck
// behind the director completes, because the router's "fragmentation
// needed" (about the VIP's packet) reaches the real server translated (NAT,
// FULLNAT) or as it is (DR); the real server's route cache learns the MTU.
func TestPathMTUThroughDirector(t *testing.T) {
	for _, c := range []struct {
		name, forward, vip, peer string
		queues                   int
	}{
		// peer is whom the real server sees as the client.
		{"nat", "nat", icmpVIP, icmpClient, 1},
		{"fullnat", "fullnat", icmpVIP, icmpLocal, 1},
		{"dr", "dr", icmpVIP, icmpClient, 1},
		{"nat6", "nat", "[" + icmpVIP6 + "]", icmpClient6, 1},
		// Two workers: the error may arrive at either and must reach the
		// connection's owner.
		{"nat-two-workers", "nat", icmpVIP, icmpClient, 2},
		{"fullnat-two-workers", "fullnat", icmpVIP, icmpLocal, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			forward, peer := c.forward, c.peer
			b := buildICMPBed(t, "fic"+c.name[:1]+c.name[len(c.name)-1:], forward, c.queues) // ficnt, ficft, ficdr, ficn6, ficns, ficfs
			serveDownload(t, b.real)
			d := startDirectorOn(t, b.director, icmpConfig(forward))
			took := download(t, b.client, c.vip)
			t.Logf("%s: 1 MB through the 1400-byte bottleneck in %v", c.name, took)
			if took > 5*time.Second {
				t.Fatalf("download took %v", took)
			}
			if c.queues > 1 {
				waitStatsLine(d)
				if !strings.Contains(d.output.String(), "worker 1 cpu") {
					t.Fatalf("expected two workers:\n%s", lastLines(d.output.String(), 3))
				}
			}
			out, err := b.real.Run("ip", "route", "get", peer)
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("mtu %d", bottleneck)) {
				t.Fatalf("real server's route to %s: %s (%v), want mtu %d\n%s", peer, out, err, bottleneck, lastLines(d.output.String(), 3))
			}
		})
	}
}

// TestICMPToTheVIP (NAT): ping to the VIP (IPv4 and IPv6) is answered by
// fastlvs; a UDP
// datagram to a port the real server does not listen on comes back to the
// client as port unreachable whose quote is the client's own datagram (byte
// for byte but the TTL the two routers took off, and its checksum); a
// datagram arriving with TTL 1 goes no further and the client hears time
// exceeded from the VIP.
func TestICMPToTheVIP(t *testing.T) {
	b := buildICMPBed(t, "ficv", "nat", 1)
	d := startDirectorOn(t, b.director, icmpConfig("nat"))
	for _, vip := range []string{icmpVIP, icmpVIP6} {
		if out, err := b.client.Run("ping", "-c", "2", "-i", "0.3", "-W", "2", vip); err != nil {
			t.Fatalf("ping %s: %v\n%s\n%s", vip, err, out, lastLines(d.output.String(), 3))
		}
	}

	frames := captureWhile(t, b.client, "eth0", func() {
		sendUDP(t, b.client, 64, "unreachable")
		sendUDP(t, b.client, 2, "expires") // the router leaves 1
		time.Sleep(500 * time.Millisecond)
	})
	sent := map[string][]byte{}
	var unreachable, exceeded []byte
	for _, f := range frames {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			continue
		}
		if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && ip.DstIP.String() == icmpVIP && udp.DstPort == 7 {
			sent[string(udp.Payload)] = append(ip.Contents, ip.Payload...)
		}
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if icmp == nil || ip.SrcIP.String() != icmpVIP {
			continue
		}
		switch icmp.TypeCode {
		case layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort):
			unreachable = icmp.Payload
		case layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, layers.ICMPv4CodeTTLExceeded):
			exceeded = icmp.Payload
		}
	}
	checkQuote(t, "port unreachable", unreachable, sent["unreachable"], 2)
	checkQuote(t, "time exceeded", exceeded, sent["expires"], 1)
}

// checkQuote compares an ICMP error's quote with the datagram the client
// sent: equal but for the TTL, lower by hops, and the header checksum,
// which must be valid.
func checkQuote(t *testing.T, what string, quote, sent []byte, hops int) {
	t.Helper()
	if sent == nil || len(quote) < 28 {
		t.Fatalf("%s: no quote captured (sent %x, quote %x)", what, sent, quote)
	}
	want := append([]byte(nil), sent[:min(len(sent), len(quote))]...)
	want[8] -= byte(hops)
	be.BigEndian.PutUint16(want[10:], 0)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(be.BigEndian.Uint16(want[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	be.BigEndian.PutUint16(want[10:], ^uint16(sum))
	if !bytes.Equal(quote[:len(want)], want) {
		t.Fatalf("%s: quote\n got %x\nwant %x (the datagram sent, %d hops on)", what, quote[:len(want)], want, hops)
	}
}

// sendUDP sends payload from the client to the VIP's UDP port 7 with ttl.
func sendUDP(t *testing.T, client *testbed.Host, ttl int, payload string) {
	t.Helper()
	c, err := client.DialContext(context.Background(), "udp4", icmpVIP+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) })
	if serr != nil {
		t.Fatal(serr)
	}
	if _, err := c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
}

// captureWhile records every frame on host's iface (both directions) while
// fn runs.
func captureWhile(t *testing.T, h *testbed.Host, iface string, fn func()) [][]byte {
	t.Helper()
	var frames [][]byte
	for _, f := range captureFrames(t, h, iface, fn) {
		frames = append(frames, f.data)
	}
	return frames
}

// capturedFrame is a frame a packet socket saw, with its VLAN id (0:
// untagged) and whether the host sent it.
type capturedFrame struct {
	taggedFrame
	outgoing bool
}

// captureFrames records every frame on host's iface while fn runs, with an
// AF_PACKET socket. The kernel takes the tag out of a received frame
// before a packet socket sees it and hands it over beside the frame
// (PACKET_AUXDATA), which is where this reads it.
func captureFrames(t *testing.T, h *testbed.Host, iface string, fn func()) []capturedFrame {
	t.Helper()
	ifindex, err := h.Ifindex(iface)
	if err != nil {
		t.Fatal(err)
	}
	proto := int(htons(unix.ETH_P_ALL))
	var fd int
	err = h.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex})
	})
	if err != nil {
		t.Fatalf("packet socket in %s: %v", h.Name, err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var frames []capturedFrame
	go func() {
		defer close(done)
		buf, oob := make([]byte, 65536), make([]byte, 256)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
			if ll, ok := from.(*unix.SockaddrLinklayer); err == nil && ok {
				frames = append(frames, capturedFrame{taggedFrame{data: append([]byte(nil), buf[:n]...), vlan: auxVLAN(oob[:oobn], buf[:n])},
					ll.Pkttype == unix.PACKET_OUTGOING})
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return frames
}

// serveUpload counts what every POST to the real server's port 80 sends and
// answers with the count.
func serveUpload(t *testing.T, h *testbed.Host) {
	t.Helper()
	l, err := h.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// upload posts 1 MB to the VIP (served by serveUpload) and says how long it
// took.
func upload(t *testing.T, client *testbed.Host, d *director) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hc := httpClientIn(client)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+icmpVIP+"/", bytes.NewReader(make([]byte, downloadSize)))
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, lastLines(d.output.String(), 3))
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != fmt.Sprint(downloadSize) {
		t.Fatalf("the real server received %s bytes, want %d", got, downloadSize)
	}
	return time.Since(start)
}

// TestPathMTUTunnel: every link has MTU 1500, so a full-size packet from the
// client no longer fits once the director encapsulates it; fastlvs answers
// the client itself with fragmentation needed (MTU 1480), the client's
// route cache learns it, and a 1 MB upload completes. A full-size datagram
// without DF is fragmented instead, and answered.
func TestPathMTUTunnel(t *testing.T) {
	b := buildICMPBed(t, "fictu", "tun", 1)
	var decap *tunnel.Decap
	err := b.real.Do(func() error {
		index, err := b.real.Ifindex("eth0")
		if err != nil {
			return err
		}
		decap, err = tunnel.AttachDecap(index)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { decap.Close() })
	serveUpload(t, b.real)
	d := startDirectorOn(t, b.director, icmpConfig("tun"))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// First (before the client learns the path MTU), a full-size UDP
	// datagram without DF: the director sends it as two tunnelled
	// fragments, the real server's kernel puts them together and answers.
	if _, err := b.real.ServeUDPEcho("r1", "0.0.0.0:7"); err != nil {
		t.Fatal(err)
	}
	c, err := b.client.DialContext(ctx, "udp4", icmpVIP+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	})
	if serr != nil {
		t.Fatal(serr)
	}
	if _, err := c.Write(make([]byte, 1500-28)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	answer := make([]byte, 256)
	n, err := c.Read(answer)
	if err != nil || !strings.HasPrefix(string(answer[:n]), "r1 ") {
		t.Fatalf("no answer to a datagram sent in two tunnelled fragments: %q %v\n%s", answer[:n], err, lastLines(d.output.String(), 2))
	}

	t.Logf("1 MB uploaded through the tunnel in %v", upload(t, b.client, d))
	out, err := b.client.Run("ip", "route", "get", icmpVIP)
	if err != nil || !strings.Contains(string(out), "mtu 1480") {
		t.Fatalf("client's route to the VIP: %s (%v), want mtu 1480", out, err)
	}

}
