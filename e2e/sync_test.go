package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	endian "encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

const (
	syncVIP        = "198.18.0.10"
	syncActiveIP   = "198.18.2.2"
	syncBackupIP   = "198.18.2.3"
	syncPort       = 8848
	syncFullNATLoc = "198.18.3.1"
)

// syncClientAddrs are the client's addresses: connections from several
// clients spread over the directors' workers.
var syncClientAddrs = []string{"198.18.1.11", "198.18.1.21", "198.18.1.22", "198.18.1.23", "198.18.1.24", "198.18.1.25", "198.18.1.26", "198.18.1.27"}

// syncPair is an active/backup pair with connection sync on one lan bridge:
// client, r1, r2, director a (active), director b (backup). The client's
// gateway, the real servers' gateway and the VIP float on the active
// director (as keepalived's VRRP would place them).
type syncPair struct {
	t              *testing.T
	client, a, b   *testbed.Host
	reals          []*testbed.Host
	active, backup *director
	floating       []string
	key            []byte
}

func newSyncPair(t *testing.T, prefix, service string, queues int) *syncPair {
	bed := testbed.ForTest(t, prefix)
	p := &syncPair{t: t, floating: []string{"198.18.1.1/24", "198.18.2.1/24", syncVIP + "/32"}}
	host := func(name string) *testbed.Host {
		h, err := bed.Host(name)
		p.must(err)
		return h
	}
	lan := host("lan")
	p.must(bed.Bridge(lan, "br0"))
	plug := func(h *testbed.Host, iface, port string, addrs ...string) {
		p.must(bed.Connect(h, iface, lan, port, testbed.LinkOptions{Queues: queues}))
		p.must(bed.Attach(lan, "br0", port))
		for _, a := range addrs {
			p.must(h.AddAddr(iface, a))
		}
	}
	p.client = host("client")
	plug(p.client, "eth0", "pclient", "198.18.1.11/24")
	for _, a := range syncClientAddrs[1:] {
		p.must(p.client.AddAddr("eth0", a+"/24"))
	}
	p.must(p.client.AddRoute("default", "198.18.1.1"))
	for i := range 2 {
		r := host(fmt.Sprintf("r%d", i+1))
		plug(r, "eth0", fmt.Sprintf("preal%d", i), fmt.Sprintf("198.18.2.%d/24", 11+i))
		p.must(r.AddRoute("default", "198.18.2.1"))
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "0.0.0.0:80"); err != nil {
			t.Fatal(err)
		}
		p.reals = append(p.reals, r)
	}
	p.a, p.b = host("dira"), host("dirb")
	plug(p.a, "eth1", "pdira", "198.18.1.2/24", syncActiveIP+"/24")
	plug(p.b, "eth1", "pdirb", "198.18.1.3/24", syncBackupIP+"/24")
	for _, f := range p.floating {
		p.must(p.a.AddAddr("eth1", f))
	}

	p.key = make([]byte, 32)
	_, _ = rand.Read(p.key)
	keyFile := filepath.Join(t.TempDir(), "sync.key")
	p.must(os.WriteFile(keyFile, p.key, 0o600))
	config := func(self, peer string) string {
		return fmt.Sprintf(`interfaces: [eth1]
metrics: %s
sync: {listen: '%s:%d', peer: '%s:%d', key_file: %s}
services:
  - %s
`, metricsAddr, self, syncPort, peer, syncPort, keyFile, service)
	}
	p.active = startDirectorOn(t, p.a, config(syncActiveIP, syncBackupIP))
	p.backup = startDirectorOn(t, p.b, config(syncBackupIP, syncActiveIP))
	return p
}

func (p *syncPair) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

// failover moves the floating addresses to the backup, and the hosts on the
// lan forget the old director's MAC (VRRP would send gratuitous ARP).
func (p *syncPair) failover() {
	p.t.Helper()
	for _, f := range p.floating {
		if out, err := p.a.Run("ip", "addr", "del", f, "dev", "eth1"); err != nil {
			p.t.Fatalf("%v: %s", err, out)
		}
		p.must(p.b.AddAddr("eth1", f))
	}
	for _, h := range append([]*testbed.Host{p.client}, p.reals...) {
		if out, err := h.Run("ip", "neigh", "flush", "all"); err != nil {
			p.t.Fatalf("%v: %s", err, out)
		}
	}
}

// checkFailover: established keep-alive connections through the active
// director, one from each of the first conns client addresses, keep their
// real servers after the failover, and new connections go through the
// backup. With several workers, each of the backup's must then hold some.
func (p *syncPair) checkFailover(conns int) {
	t := p.t
	longs := make([]*keepAlive, conns)
	servers := make([]string, conns)
	for i := range longs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := p.client.DialFrom(ctx, "tcp", syncClientAddrs[i], syncVIP+":80")
		cancel()
		p.must(err)
		t.Cleanup(func() { conn.Close() })
		longs[i] = &keepAlive{tb: t, conn: conn, reader: bufio.NewReader(conn)}
		before, err := longs[i].get()
		if err != nil {
			t.Fatalf("through the active director: %v\n%s", err, p.active.output)
		}
		servers[i] = before.server
	}
	time.Sleep(200 * time.Millisecond) // the sync stream flushes every 10 ms
	p.failover()
	for i, long := range longs {
		for j := range 3 {
			r, err := long.get()
			if err != nil {
				t.Fatalf("established connection %d broke at failover (request %d): %v\nbackup:\n%s", i, j, err, lastLines(p.backup.output.String(), 3))
			}
			if r.server != servers[i] {
				t.Fatalf("connection %d moved from %s to %s", i, servers[i], r.server)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.client.HTTPGet(ctx, "http://"+syncVIP+"/", ""); err != nil {
		t.Fatalf("new connection through the backup: %v", err)
	}
	scraper := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: p.b.DialContext, DisableKeepAlives: true}}
	e := scrape(t, scraper)
	for _, m := range e.families["fastlvs_worker_connections"].GetMetric() {
		if m.GetGauge().GetValue() == 0 {
			t.Fatalf("a backup worker holds no connection: %v", m)
		}
	}
}

// TestSyncFailover: moving the VIP and gateways to the backup
// mid-connection does not break an established NAT connection: the backup
// learned it from the sync stream.
func TestSyncFailover(t *testing.T) {
	newSyncPair(t, "fsync", `{vip: `+syncVIP+`, port: 80, protocol: tcp, scheduler: rr, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}]}`, 1).checkFailover(1)
}

// TestSyncFailoverFullNAT: the same for FULLNAT with two workers per
// director, whose synced connections carry their local address and port:
// the real server's replies to that local address:port reach the backup's
// worker owning the port, which knows the connection (and, owning the
// client too, takes the client's packets).
func TestSyncFailoverFullNAT(t *testing.T) {
	newSyncPair(t, "fsyfn", `{vip: `+syncVIP+`, port: 80, protocol: tcp, scheduler: rr, forward: fullnat, health_check: {type: none},
     local_addresses: [`+syncFullNATLoc+`], real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}]}`, 2).checkFailover(8)
}

// TestSyncRefusesHostileDatagrams: garbage, an authentic record with a
// state no protocol has, a valid datagram from an address that is not the
// peer, and replays (of a datagram captured from the active director and of
// one of ours) each leave the backup running with its table unchanged, and
// each is counted by reason. A valid datagram from the peer's address is
// applied, so the refusals are not for a wrong format.
func TestSyncRefusesHostileDatagrams(t *testing.T) {
	p := newSyncPair(t, "fsyhd", `{vip: `+syncVIP+`, port: 80, protocol: tcp, scheduler: rr, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}]}`, 1)
	captured := captureSyncDatagram(t, p.b)
	long := dialKeepAlive(t, p.client, syncVIP+":80")
	if _, err := long.get(); err != nil {
		t.Fatalf("through the active director: %v", err)
	}
	var replayed []byte
	select {
	case replayed = <-captured:
	case <-time.After(5 * time.Second):
		t.Fatal("captured no sync datagram from the active director")
	}
	scraper := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: p.b.DialContext, DisableKeepAlives: true}}
	read := func() map[string]float64 {
		e := scrape(t, scraper)
		out := map[string]float64{
			"applied": e.sum("fastlvs_sync_records_applied_total", ""),
			"conns":   e.sum("fastlvs_worker_connections", ""),
		}
		for _, r := range []string{"malformed", "bad_record", "not_peer", "replay", "bad_mac"} {
			out[r] = e.sum("fastlvs_sync_bad_datagrams_total", `reason="`+r+`"`)
		}
		return out
	}
	waitFor := func(what string, ok func(map[string]float64) bool) map[string]float64 {
		t.Helper()
		var m map[string]float64
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if m = read(); ok(m) {
				return m
			}
		}
		t.Fatalf("%s: counters %v\nbackup:\n%s", what, m, lastLines(p.backup.output.String(), 5))
		return nil
	}
	base := waitFor("the active director's connection reached the backup", func(m map[string]float64) bool { return m["applied"] >= 1 && m["conns"] >= 1 })

	send := func(from *testbed.Host, fromIP string, b []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := from.DialFrom(ctx, "udp", fromIP, fmt.Sprintf("%s:%d", syncBackupIP, syncPort))
		p.must(err)
		defer conn.Close()
		_, err = conn.Write(b)
		p.must(err)
	}
	valid := syncRecord{client: "198.18.1.11", cport: 41234, vip: syncVIP, vport: 80, real: "198.18.2.11", rport: 80, proto: 6, state: 1}
	outOfRange := valid
	outOfRange.cport, outOfRange.state = 41235, 200
	seq := uint64(time.Now().UnixNano())
	forged := sealSyncDatagram(p.key, 0xf00d, seq, valid)

	p.must(p.client.AddRouteDev(syncBackupIP+"/32", "eth0")) // not through the active director
	send(p.a, syncActiveIP, []byte("\x00garbage that is not a sync datagram\xff"))
	send(p.a, syncActiveIP, sealSyncDatagram(p.key, 0xf00d, seq-1, outOfRange))
	send(p.client, "198.18.1.11", forged)
	send(p.a, syncActiveIP, replayed)
	send(p.a, syncActiveIP, sealSyncDatagram([]byte(strings.Repeat("w", 32)), 0xf00d, seq+1, valid))
	hostile := waitFor("each hostile datagram counted", func(m map[string]float64) bool {
		return m["malformed"] == base["malformed"]+1 && m["bad_record"] == base["bad_record"]+1 &&
			m["not_peer"] == base["not_peer"]+1 && m["replay"] == base["replay"]+1 && m["bad_mac"] == base["bad_mac"]+1
	})
	if hostile["applied"] != base["applied"] || hostile["conns"] != base["conns"] {
		t.Fatalf("the backup's table changed: before %v, after %v", base, hostile)
	}
	select {
	case <-p.backup.process.Exited():
		t.Fatalf("the backup exited:\n%s", p.backup.output)
	default:
	}

	// The forged datagram from the peer's address is taken; sent again, it
	// is a replay.
	send(p.a, syncActiveIP, forged)
	waitFor("a valid datagram from the peer applied", func(m map[string]float64) bool {
		return m["applied"] == base["applied"]+1 && m["conns"] == base["conns"]+1
	})
	send(p.a, syncActiveIP, forged)
	waitFor("its replay refused", func(m map[string]float64) bool {
		return m["replay"] == base["replay"]+2 && m["applied"] == base["applied"]+1
	})
	if _, err := long.get(); err != nil {
		t.Fatalf("the established connection after the hostile datagrams: %v", err)
	}
}

// syncRecord is one connection as the sync wire format (version 2) carries
// it, written here from its description in control/syncwire.go rather than
// with the daemon's encoder, so this test also checks that description.
type syncRecord struct {
	client, vip, real   string
	cport, vport, rport uint16
	proto, state        uint8
}

func sealSyncDatagram(key []byte, sender uint32, seq uint64, r syncRecord) []byte {
	b := make([]byte, 20+92)
	copy(b, "FLS2")
	b[4] = 2
	endian.BigEndian.PutUint16(b[6:], 1)
	endian.BigEndian.PutUint32(b[8:], sender)
	endian.BigEndian.PutUint64(b[12:], seq)
	rec := b[20:]
	for i, a := range []string{r.client, r.vip, r.real} {
		addr := netip.MustParseAddr(a).As16()
		copy(rec[16*i:], addr[:])
	}
	endian.BigEndian.PutUint16(rec[64:], r.cport)
	endian.BigEndian.PutUint16(rec[66:], r.vport)
	endian.BigEndian.PutUint16(rec[68:], r.rport)
	rec[72], rec[73] = r.proto, r.state
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return mac.Sum(b)
}

// captureSyncDatagram returns the payload of the first sync datagram from
// the active director that reaches h's eth1 (an AF_PACKET socket in h's
// namespace sees what the kernel receives there).
func captureSyncDatagram(t *testing.T, h *testbed.Host) <-chan []byte {
	t.Helper()
	var fd int
	err := h.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP))); err != nil {
			return err
		}
		iface, err := net.InterfaceByName("eth1")
		if err != nil {
			return err
		}
		tv := unix.Timeval{Sec: 5}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: iface.Index})
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", h.Name, err)
	}
	out := make(chan []byte, 1)
	active := netip.MustParseAddr(syncActiveIP).As4()
	go func() {
		defer unix.Close(fd)
		buf := make([]byte, 2048)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // the receive timeout: look at the deadline
			}
			ihl := int(buf[0]&0x0f) * 4
			if n < ihl+8 || buf[9] != unix.IPPROTO_UDP || [4]byte(buf[12:16]) != active ||
				endian.BigEndian.Uint16(buf[ihl+2:]) != syncPort {
				continue
			}
			out <- append([]byte(nil), buf[ihl+8:n]...)
			return
		}
	}()
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
