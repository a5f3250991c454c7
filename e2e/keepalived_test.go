package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

// keepalivedConfig is the VRRP-only keepalived configuration of one director
// (docs/OPERATIONS.md shows the same): the client gateway, the real servers'
// gateway and the VIP float on eth1 of the master; advertisements go unicast
// to the peer director.
func keepalivedConfig(name, state string, priority int, self, peer, vip string) string {
	return fmt.Sprintf(`global_defs {
	router_id %s
}
vrrp_instance fastlvs {
	state %s
	interface eth1
	virtual_router_id 51
	priority %d
	advert_int 1
	unicast_src_ip %s
	unicast_peer {
		%s
	}
	virtual_ipaddress {
		198.18.1.1/24 dev eth1
		198.18.2.1/24 dev eth1
		%s/32 dev eth1
	}
}
`, name, state, priority, self, peer, vip)
}

// startKeepalived runs keepalived's VRRP subsystem in host's namespace with
// its config and pid files in a temporary directory. Stopping it by its PID
// ends its VRRP child too.
func startKeepalived(t *testing.T, host *testbed.Host, config string) *testbed.Process {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	process, err := testbed.StartProcess(host.Command("keepalived", "--dont-fork", "--log-console", "--no-syslog",
		"--vrrp", "--use-file="+path, "--pid="+filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid="+filepath.Join(dir, "vrrp.pid"), "--checkers_pid="+filepath.Join(dir, "checkers.pid")))
	if err != nil {
		t.Fatalf("start keepalived (is the keepalived package installed?): %v", err)
	}
	t.Cleanup(func() {
		process.Stop(syscall.SIGTERM, 5*time.Second)
		stopOrphanedVRRP(filepath.Join(dir, "vrrp.pid"))
		if t.Failed() {
			t.Logf("keepalived in %s:\n%s", host.Name, process.Tail(30))
		}
	})
	return process
}

// stopOrphanedVRRP ends the VRRP child our keepalived started, should it
// outlive its parent (killed with SIGKILL, the parent cannot stop it).
func stopOrphanedVRRP(pidFile string) {
	text, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(text)))
	if err != nil || pid <= 1 {
		return
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "keepalived" {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestKeepalivedFailoverWithSync pairs the real keepalived (VRRP for the
// gateways and the VIP) with fastlvs's connection sync: when the master
// director dies (link gone, keepalived and fastlvs killed), the backup's
// keepalived takes the addresses over and announces them by gratuitous ARP,
// and an established NAT keep-alive connection carries on through the backup
// to the same real server.
//
//	client, r1, r2, director a (master), director b (backup) ── one lan bridge
func TestKeepalivedFailoverWithSync(t *testing.T) {
	const vip = "198.18.0.10"
	bed := testbed.ForTest(t, "fvrrp")
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
	lan := host("lan")
	must(bed.Bridge(lan, "br0"))
	plug := func(h *testbed.Host, iface, port, addr string) {
		must(bed.Connect(h, iface, lan, port, testbed.LinkOptions{Queues: 1}))
		must(bed.Attach(lan, "br0", port))
		must(h.AddAddr(iface, addr))
	}
	client := host("client")
	plug(client, "eth0", "pclient", "198.18.1.11/24")
	must(client.AddRoute("default", "198.18.1.1"))
	for i := range 2 {
		r := host(fmt.Sprintf("r%d", i+1))
		plug(r, "eth0", fmt.Sprintf("preal%d", i), fmt.Sprintf("198.18.2.%d/24", 11+i))
		must(r.AddRoute("default", "198.18.2.1"))
		if _, err := r.ServeHTTP(fmt.Sprintf("r%d", i+1), "0.0.0.0:80"); err != nil {
			t.Fatal(err)
		}
	}
	a, b := host("dira"), host("dirb")
	plug(a, "eth1", "pdira", "198.18.2.2/24")
	plug(b, "eth1", "pdirb", "198.18.2.3/24")

	master := startKeepalived(t, a, keepalivedConfig("dira", "MASTER", 150, "198.18.2.2", "198.18.2.3", vip))
	backup := startKeepalived(t, b, keepalivedConfig("dirb", "BACKUP", 100, "198.18.2.3", "198.18.2.2", vip))
	must(master.WaitFor("Entering MASTER STATE", 10*time.Second))
	must(backup.WaitFor("Entering BACKUP STATE", 10*time.Second))

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "sync.key")
	must(os.WriteFile(keyFile, key, 0o600))
	config := func(self, peer string) string {
		return fmt.Sprintf(`interfaces: [eth1]
sync: {listen: '%s:8848', peer: '%s:8848', key_file: %s}
services:
  - {vip: %s, port: 80, protocol: tcp, scheduler: rr, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12}]}
`, self, peer, keyFile, vip)
	}
	active := startDirectorOn(t, a, config("198.18.2.2", "198.18.2.3"))
	startDirectorOn(t, b, config("198.18.2.3", "198.18.2.2"))

	long := dialKeepAlive(t, client, vip+":80")
	before, err := long.get()
	if err != nil {
		t.Fatalf("through the master: %v\n%s", err, active.output)
	}
	time.Sleep(200 * time.Millisecond) // the sync stream flushes every 10 ms

	// The master dies: its link goes, then its keepalived and fastlvs are
	// killed. Nothing tells the lan; the backup notices the silence.
	died := time.Now()
	_, err = a.Run("ip", "link", "set", "eth1", "down")
	must(err)
	must(master.Signal(syscall.SIGKILL))
	must(active.process.Signal(syscall.SIGKILL))
	must(backup.WaitFor("Entering MASTER STATE", 10*time.Second))
	t.Logf("the backup became master %s after the master died", time.Since(died).Round(10*time.Millisecond))
	if out, _ := b.Run("ip", "-4", "addr", "show", "eth1"); !strings.Contains(string(out), vip+"/32") || !strings.Contains(string(out), "198.18.1.1/24") {
		t.Fatalf("the backup does not hold the floating addresses:\n%s", out)
	}

	for i := range 3 {
		r, err := long.get()
		if err != nil {
			t.Fatalf("established connection broke at failover (request %d): %v", i, err)
		}
		if r.server != before.server {
			t.Fatalf("connection moved from %s to %s", before.server, r.server)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.HTTPGet(ctx, "http://"+vip+"/", ""); err != nil {
		t.Fatalf("new connection through the new master: %v", err)
	}
}
