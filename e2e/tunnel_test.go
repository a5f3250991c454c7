package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
	"fastlvs/tunnel"
)

// tunnelConfig is a wrr service for TCP (HTTP on 80) and UDP (echo on 7) in
// tunnel mode, real servers weighted 1, 2, 3.
func tunnelConfig(vip string) string {
	cfg := "interfaces: [eth1]\nservices:\n"
	for _, svc := range []struct {
		proto string
		port  int
	}{{"tcp", 80}, {"udp", 7}} {
		cfg += fmt.Sprintf("  - {vip: %s, port: %d, protocol: %s, scheduler: wrr, forward: tun, health_check: {type: none},\n"+
			"     real_servers: [{address: 198.18.2.11, weight: 1}, {address: 198.18.2.12, weight: 2}, {address: 198.18.2.13, weight: 3}]}\n",
			vip, svc.port, svc.proto)
	}
	return cfg
}

// attachDecap runs the project's decap program on every real server's eth0
// (the kernel here has no ipip module: without it the real servers would
// answer the tunnel packets with protocol-unreachable).
func attachDecap(t *testing.T, topo *testbed.Topology) []*tunnel.Decap {
	t.Helper()
	var out []*tunnel.Decap
	for _, r := range topo.Reals {
		var d *tunnel.Decap
		err := r.Do(func() error {
			index, err := r.Ifindex("eth0")
			if err != nil {
				return err
			}
			d, err = tunnel.AttachDecap(index)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		t.Cleanup(func() { _ = d.Close() })
		out = append(out, d)
	}
	return out
}

// TestTunnel sends 300 HTTP requests (a new connection each) and 300 UDP
// requests from two clients through a director in tunnel mode: every answer
// comes back, shares follow the weights, the real servers see the clients'
// own addresses, and every packet reached them inside an IPIP header.
func TestTunnel(t *testing.T) {
	checkTunnelBalance(t, "ftun", "", func(s tunnel.DecapStats) (opened, others uint64) {
		return s.Decap4in4, s.Decap6in4 + s.Decap4in6 + s.Decap6in6 + s.DecapGUE
	})
}

// TestTunnelGUE is TestTunnel with `tunnel: gue`: every packet reached the
// real servers inside UDP to the GUE port, opened by the decap program.
func TestTunnelGUE(t *testing.T) {
	checkTunnelBalance(t, "fgue", "tunnel: gue, gue_port: 6080,", func(s tunnel.DecapStats) (opened, others uint64) {
		return s.DecapGUE, s.Decapsulated() - s.DecapGUE
	})
}

// checkTunnelBalance is the tunnel balancing test for the encapsulation
// that the service options tunnelOptions choose; count says, from a real
// server's decap counters, how many packets came in that encapsulation and
// how many in any other.
func checkTunnelBalance(t *testing.T, prefix, tunnelOptions string, count func(tunnel.DecapStats) (opened, others uint64)) {
	const vip, requests = "198.18.0.10", 300
	bed := testbed.ForTest(t, prefix)
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeDR, VIPs: []string{vip}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	decaps := attachDecap(t, topo)
	for _, d := range decaps {
		if err := d.SetGUEPorts([]uint16{6080}); err != nil {
			t.Fatal(err)
		}
	}
	startDirector(t, topo, strings.ReplaceAll(tunnelConfig(vip), "forward: tun,", "forward: tun, "+tunnelOptions))
	weights := map[string]int{"r1": 1, "r2": 2, "r3": 3}
	// A TCP request sends at least SYN, ACK, the request and FIN towards the
	// real server; a UDP request one datagram. Each must come in a tunnel.
	var tunnelled [3]uint64
	for _, proto := range []string{"tcp", "udp"} {
		port, packets := 80, uint64(4)
		if proto == "udp" {
			port, packets = 7, 1
		}
		rs := drive(t, topo, proto, vip, port, requests)
		if len(rs) != requests {
			t.Fatalf("%s: %d responses, want %d", proto, len(rs), requests)
		}
		checkWeightShares(t, rs, weights, 5)
		checkClientAddresses(t, topo, rs)
		for name, n := range shares(rs) {
			tunnelled[name[1]-'1'] += packets * uint64(n)
			t.Logf("%s: %s answered %d (%.1f%%)", proto, name, n, 100*float64(n)/requests)
		}
	}
	for i, d := range decaps {
		s, err := d.Stats()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("r%d decap counters: %+v", i+1, s)
		opened, others := count(s)
		if opened < tunnelled[i] || opened == 0 {
			t.Errorf("r%d opened %d tunnel packets, want at least %d", i+1, opened, tunnelled[i])
		}
		if s.PassedNotLocal != 0 || s.PassedMalformed != 0 || others != 0 {
			t.Errorf("r%d: unexpected tunnel packets %+v", i+1, s)
		}
	}
}

// TestTunnelDecapCommand runs fastlvs-decap as an operator would on every
// real server and checks that it opens the tunnel and reports its counters
// when stopped.
func TestTunnelDecapCommand(t *testing.T) {
	const vip, requests = "198.18.0.10", 30
	decapBinary := filepath.Join(t.TempDir(), "fastlvs-decap")
	if out, err := exec.Command("go", "build", "-o", decapBinary, "fastlvs/cmd/fastlvs-decap").CombinedOutput(); err != nil {
		t.Fatalf("build fastlvs-decap: %v\n%s", err, out)
	}
	bed := testbed.ForTest(t, "ftun")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeDR, VIPs: []string{vip}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 0); err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var outputs []*decapLog
	for _, r := range topo.Reals {
		out := &decapLog{}
		cmd := r.Command(decapBinary, "--iface", "eth0")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start fastlvs-decap on %s: %v", r.Name, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cmds, outputs = append(cmds, cmd), append(outputs, out)
	}
	for i, out := range outputs {
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "fastlvs-decap running"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("fastlvs-decap on r%d did not start:\n%s", i+1, out)
			}
		}
	}
	startDirector(t, topo, tunnelConfig(vip))
	if rs := drive(t, topo, "tcp", vip, 80, requests); len(rs) != requests {
		t.Fatalf("%d responses, want %d", len(rs), requests)
	}
	var total int
	for i, cmd := range cmds {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("fastlvs-decap on r%d: %v\n%s", i+1, err, outputs[i])
		}
		m := regexp.MustCompile(`"fastlvs-decap stopped" decapsulated=(\d+)`).FindStringSubmatch(outputs[i].String())
		if m == nil {
			t.Fatalf("fastlvs-decap on r%d reported no counters:\n%s", i+1, outputs[i])
		}
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	t.Logf("fastlvs-decap opened %d packets of %d connections", total, requests)
	if total < 4*requests {
		t.Fatalf("%d packets decapsulated for %d connections, want at least %d", total, requests, 4*requests)
	}
}

// decapLog collects a fastlvs-decap process's output.
type decapLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *decapLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *decapLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestTunnelPathMTU uploads 256 KB through a tunnel service. The client's
// full-size segments do not fit the real servers' link once encapsulated;
// the director answers them with ICMP fragmentation-needed, the client's
// path-MTU discovery shrinks its segments, and the upload completes.
func TestTunnelPathMTU(t *testing.T) {
	const vip, size = "198.18.0.10", 256 << 10
	bed := testbed.ForTest(t, "ftmtu")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeDR, VIPs: []string{vip}, Reals: 1})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := topo.Reals[0].Listen("tcp", "0.0.0.0:9000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	go func() {
		for {
			conn, err := sink.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				n, _ := io.CopyN(io.Discard, conn, size)
				fmt.Fprintf(conn, "got %d\n", n)
			}()
		}
	}()
	attachDecap(t, topo)
	d := startDirector(t, topo, "interfaces: [eth1]\nservices:\n"+
		"  - {vip: "+vip+", port: 9000, protocol: tcp, scheduler: rr, forward: tun, health_check: {type: none},\n"+
		"     real_servers: [{address: 198.18.2.11}]}\n")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := topo.Clients[0].DialContext(ctx, "tcp", vip+":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(bytes.Repeat([]byte("x"), size)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || reply != fmt.Sprintf("got %d\n", size) {
		t.Fatalf("upload through the tunnel: reply %q, err %v\n%s", reply, err, lastLines(d.output.String(), 2))
	}
	// The stats line (every second) must show the oversize packets.
	for deadline := time.Now().Add(2500 * time.Millisecond); !strings.Contains(d.output.String(), "encap_too_large"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no oversize packet was seen: the test did not exercise path-MTU discovery\n%s", lastLines(d.output.String(), 2))
		}
	}
}
