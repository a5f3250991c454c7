package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// admConfig is a NAT director for the web service on two of the three real
// servers; fastlvsadm adds the third.
const admConfig = `
interfaces: [eth1]
conntrack: {capacity: 65536}
services:
  - name: web
    vip: 198.18.0.10
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    health_check: {type: none}
    real_servers:
      - {address: 198.18.2.11, port: 80, weight: 1}
      - {address: 198.18.2.12, port: 80, weight: 1}
`

const admInitialList = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.10:80 rr
  -> 198.18.2.11:80               Masq    1      0          0         
  -> 198.18.2.12:80               Masq    1      0          0         
`

// admTool runs a fastlvsadm binary against one daemon's API socket.
type admTool struct {
	t      *testing.T
	binary string
	api    string
}

// buildAdm builds fastlvsadm into the test's temp dir.
func buildAdm(t *testing.T, socket string) *admTool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fastlvsadm")
	build := exec.Command("go", "build", "-o", bin, "fastlvs/cmd/fastlvsadm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fastlvsadm: %v\n%s", err, out)
	}
	return &admTool{t: t, binary: bin, api: "unix://" + socket}
}

// run executes one fastlvsadm command line with stdin and returns its
// output and exit status.
func (a *admTool) run(stdin string, args ...string) (stdout, stderr string, code int) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.binary, args...)
	cmd.Env = append(os.Environ(), "FASTLVS_API="+a.api)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		a.t.Fatalf("fastlvsadm %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// must runs a command that has to succeed and returns its stdout.
func (a *admTool) must(args ...string) string {
	a.t.Helper()
	return a.mustWithInput("", args...)
}

func (a *admTool) mustWithInput(stdin string, args ...string) string {
	a.t.Helper()
	out, errOut, code := a.run(stdin, args...)
	if code != 0 {
		a.t.Fatalf("fastlvsadm %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// getMany sends n HTTP requests, each on a new connection, and fails on any
// error.
func getMany(t *testing.T, client *testbed.Host, url string, n int) {
	t.Helper()
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := client.HTTPGet(ctx, url, "")
		cancel()
		if err != nil {
			t.Fatalf("request %d of %d: %v", i+1, n, err)
		}
	}
}

func TestFastlvsadmDrivesTheDaemon(t *testing.T) {
	bed := testbed.ForTest(t, "fadm")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Clients: 1, Reals: 3})
	if err != nil {
		t.Fatal(err)
	}
	servers, _, err := topo.StartServers(80, 0)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "api.sock")
	d := startDirector(t, topo, admConfig, "--api", "unix://"+socket) // the later --api wins
	adm := buildAdm(t, socket)
	client, url := topo.Clients[0], "http://198.18.0.10/"
	r3 := servers[2]

	if got := adm.must("-L", "-n"); got != admInitialList {
		t.Fatalf("-L -n lists\n%s\nwant\n%s", got, admInitialList)
	}

	// -a: the new real server takes connections.
	adm.must("-a", "-t", "198.18.0.10:80", "-r", "198.18.2.13:80", "-m", "-w", "2")
	getMany(t, client, url, 12)
	if n := r3.Requests(); n < 3 {
		t.Fatalf("added real server got %d of 12 requests under rr over 3 servers", n)
	}

	// -e -w 0 quiesces it: no new connection reaches it.
	adm.must("-e", "-t", "198.18.0.10:80", "-r", "198.18.2.13:80", "-m", "-w", "0")
	if got := adm.must("-L", "-n"); !strings.Contains(got, "  -> 198.18.2.13:80               Masq    0      ") {
		t.Fatalf("-L -n after -e -w 0:\n%s", got)
	}
	r3.Reset()
	getMany(t, client, url, 9)
	if n := r3.Requests(); n != 0 {
		t.Fatalf("quiesced real server got %d new requests", n)
	}

	// -L -n -c lists the connections the traffic made.
	conns := adm.must("-L", "-n", "-c")
	if !strings.HasPrefix(conns, "IPVS connection entries\npro expire state       source             virtual            destination\n") ||
		!strings.Contains(conns, "TCP ") || !strings.Contains(conns, " 198.18.0.10:80     198.18.2.13:80") ||
		!strings.Contains(conns, topo.ClientAddrs[0]+":") {
		t.Fatalf("-L -n -c:\n%s", conns)
	}
	if lines := strings.Count(conns, "\n") - 2; lines < 12+9 {
		t.Fatalf("-L -n -c lists %d connections after 21 requests:\n%s", lines, conns)
	}

	// -d removes it.
	adm.must("-d", "-t", "198.18.0.10:80", "-r", "198.18.2.13:80")
	listed := adm.must("-L", "-n")
	if strings.Contains(listed, "198.18.2.13") {
		t.Fatalf("-L -n after -d:\n%s", listed)
	}

	// A command the daemon refuses exits non-zero with ipvsadm's message and changes nothing.
	out, errOut, code := adm.run("", "-a", "-t", "198.18.0.99:80", "-r", "198.18.2.13:80", "-m")
	if code == 0 || errOut != "fastlvsadm: Service not defined\n" || out != "" {
		t.Fatalf("-a on a missing service: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if got := adm.must("-L", "-n"); got != listed {
		t.Fatalf("a refused command changed the table:\n%s\nwas\n%s", got, listed)
	}

	// -S, -C, -R restores the same table.
	saved := adm.must("-S", "-n")
	wantSaved := "-A -t 198.18.0.10:80 -s rr\n" +
		"-a -t 198.18.0.10:80 -r 198.18.2.11:80 -m -w 1\n" +
		"-a -t 198.18.0.10:80 -r 198.18.2.12:80 -m -w 1\n"
	if saved != wantSaved {
		t.Fatalf("-S -n:\n%s\nwant\n%s", saved, wantSaved)
	}
	adm.must("-C")
	if got := adm.must("-L", "-n"); strings.Contains(got, "TCP") {
		t.Fatalf("-L -n after -C:\n%s", got)
	}
	adm.mustWithInput(saved, "-R")
	if got := adm.must("-L", "-n"); got != listed {
		t.Fatalf("-L -n after -S | -C | -R:\n%s\nwant\n%s", got, listed)
	}
	servers[0].Reset()
	getMany(t, client, url, 4)
	if n := servers[0].Requests(); n == 0 {
		t.Fatal("the restored service does not reach r1")
	}

	// --set changes the timeouts -L --timeout shows.
	adm.must("--set", "100", "20", "30")
	if got := adm.must("-L", "--timeout"); got != "Timeout (tcp tcpfin udp): 100 20 30\n" {
		t.Fatalf("-L --timeout after --set 100 20 30: %q", got)
	}
	// The workers use them: a new established connection expires within 100 s, not 900.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	held, err := client.DialContext(ctx, "tcp", "198.18.0.10:80")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	local := held.LocalAddr().String()
	deadline := time.Now().Add(3 * time.Second)
	for {
		conns := adm.must("-L", "-n", "-c")
		line := ""
		for l := range strings.Lines(conns) {
			if strings.Contains(l, " "+local+" ") {
				line = l
			}
		}
		if strings.HasPrefix(line, "TCP 01:40  ESTABLISHED ") || strings.HasPrefix(line, "TCP 01:39  ESTABLISHED ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held connection %s after --set 100 20 30: %q in\n%s", local, line, conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(d.output.String(), "level=ERROR") {
		t.Fatalf("the daemon logged errors:\n%s", d.output)
	}
}
