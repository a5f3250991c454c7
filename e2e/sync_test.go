package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fastlvs/testbed"
)

// TestSyncFailover is an active/backup NAT pair with connection sync. The
// client's gateway, the real servers' gateway and the VIP float on the
// active director (as keepalived's VRRP would place them); moving them to the
// backup mid-connection must not break an established NAT connection: the
// backup learned it from the sync stream.
//
//	client, r1, r2, director a, director b ── one lan bridge
func TestSyncFailover(t *testing.T) {
	const vip = "198.18.0.10"
	bed := testbed.ForTest(t, "fsync")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	host := func(name string) *testbed.Host {
		h, err := bed.Host(name)
		must(err)
		return h
	}
	run := func(h *testbed.Host, args ...string) {
		t.Helper()
		if out, err := h.Run(args...); err != nil {
			t.Fatalf("%s: %v: %s", h.Name, err, out)
		}
	}
	lan := host("lan")
	must(bed.Bridge(lan, "br0"))
	plug := func(h *testbed.Host, iface, port string, addrs ...string) {
		must(bed.Connect(h, iface, lan, port, testbed.LinkOptions{Queues: 1}))
		must(bed.Attach(lan, "br0", port))
		for _, a := range addrs {
			must(h.AddAddr(iface, a))
		}
	}
	client := host("client")
	plug(client, "eth0", "pclient", "198.18.1.11/24")
	must(client.AddRoute("default", "198.18.1.1"))
	var reals []*testbed.Host
	for i := range 2 {
		r := host(fmt.Sprintf("r%d", i+1))
		plug(r, "eth0", fmt.Sprintf("preal%d", i), fmt.Sprintf("198.18.2.%d/24", 11+i))
		must(r.AddRoute("default", "198.18.2.1"))
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "0.0.0.0:80"); err != nil {
			t.Fatal(err)
		}
		reals = append(reals, r)
	}
	a, b := host("dira"), host("dirb")
	plug(a, "eth1", "pdira", "198.18.1.2/24", "198.18.2.2/24")
	plug(b, "eth1", "pdirb", "198.18.1.3/24", "198.18.2.3/24")
	floating := []string{"198.18.1.1/24", "198.18.2.1/24", vip + "/32"}
	for _, f := range floating {
		must(a.AddAddr("eth1", f))
	}

	config := func(self, peer string) string {
		return fmt.Sprintf(`interfaces: [eth1]
sync: {listen: '%s:8848', peer: '%s:8848'}
services:
  - {vip: %s, port: 80, protocol: tcp, scheduler: rr, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}]}
`, self, peer, vip)
	}
	active := startDirectorOn(t, a, config("198.18.2.2", "198.18.2.3"))
	backup := startDirectorOn(t, b, config("198.18.2.3", "198.18.2.2"))

	long := dialKeepAlive(t, client, vip+":80")
	before, err := long.get()
	if err != nil {
		t.Fatalf("through the active director: %v\n%s", err, active.output)
	}
	time.Sleep(200 * time.Millisecond) // the sync stream flushes every 10 ms

	// Fail over: the floating addresses move to the backup, and the hosts on
	// the lan forget the old director's MAC (VRRP would send gratuitous ARP).
	for _, f := range floating {
		run(a, "ip", "addr", "del", f, "dev", "eth1")
		must(b.AddAddr("eth1", f))
	}
	for _, h := range append([]*testbed.Host{client}, reals...) {
		run(h, "ip", "neigh", "flush", "all")
	}

	for i := range 3 {
		r, err := long.get()
		if err != nil {
			t.Fatalf("established connection broke at failover (request %d): %v\nbackup:\n%s", i, err, lastLines(backup.output.String(), 3))
		}
		if r.server != before.server {
			t.Fatalf("connection moved from %s to %s", before.server, r.server)
		}
	}
	// New connections go through the backup too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.HTTPGet(ctx, "http://"+vip+"/", ""); err != nil {
		t.Fatalf("new connection through the backup: %v", err)
	}
}
