// Package e2e runs the built fastlvs binary as a director inside a network
// namespace sandbox and checks, by what real clients and real servers see,
// that it balances real TCP and UDP traffic.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

// binary is the fastlvs executable built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastlvs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fastlvs")
	build := exec.Command("go", "build", "-o", binary, "fastlvs/cmd/fastlvs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fastlvs:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// director is a running fastlvs process in the topology's director namespace.
type director struct {
	tb         testing.TB
	process    *testbed.Process
	configPath string
	output     interface{ String() string }
}

// outputOf lets d.output.String() read the process's collected output.
type outputOf struct{ p *testbed.Process }

func (o outputOf) String() string { return o.p.Output() }

// startDirector writes config and runs fastlvs with it; it returns once the
// daemon says it runs (and the link has settled after the XDP attach).
func startDirector(tb testing.TB, topo *testbed.Topology, config string, extraArgs ...string) *director {
	tb.Helper()
	return startDirectorOn(tb, topo.Director, config, extraArgs...)
}

// startDirectorOn runs fastlvs in host's namespace (for topologies with
// more than one director).
func startDirectorOn(tb testing.TB, host *testbed.Host, config string, extraArgs ...string) *director {
	tb.Helper()
	dir := tb.TempDir()
	d := &director{tb: tb, configPath: filepath.Join(dir, "fastlvs.yaml")}
	d.writeConfig(config)
	args := append([]string{"--config", d.configPath, "--api", "unix://" + filepath.Join(dir, "api.sock"),
		"--stats-interval", "1s", "--watch=false"}, extraArgs...)
	process, err := testbed.StartProcess(host.Command(binary, args...))
	if err != nil {
		tb.Fatalf("start fastlvs: %v", err)
	}
	d.process, d.output = process, outputOf{process}
	tb.Cleanup(d.stop)
	if err := process.WaitFor("fastlvs running", 10*time.Second); err != nil {
		tb.Fatalf("fastlvs did not start: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // attaching XDP resets the link
	return d
}

// startFailingDirector runs fastlvs with config, expects it to exit before it
// runs, and returns its output.
func startFailingDirector(tb testing.TB, topo *testbed.Topology, config string) string {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "fastlvs.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	process, err := testbed.StartProcess(topo.Director.Command(binary, "--config", path,
		"--api", "unix://"+filepath.Join(dir, "api.sock"), "--watch=false"))
	if err != nil {
		tb.Fatalf("start fastlvs: %v", err)
	}
	select {
	case <-process.Exited():
	case <-time.After(15 * time.Second):
		process.Stop(syscall.SIGTERM, 5*time.Second)
		tb.Fatalf("fastlvs did not exit:\n%s", process.Output())
	}
	if strings.Contains(process.Output(), "fastlvs running") {
		tb.Fatalf("fastlvs ran:\n%s", process.Output())
	}
	return process.Output()
}

func (d *director) writeConfig(config string) {
	d.tb.Helper()
	if err := os.WriteFile(d.configPath, []byte(config), 0o644); err != nil {
		d.tb.Fatal(err)
	}
}

// startWatchingDirector is startDirector with config file watching on.
func startWatchingDirector(tb testing.TB, topo *testbed.Topology, config string) *director {
	return startDirector(tb, topo, config, "--watch=true")
}

// reload writes a new config, sends SIGHUP and waits for the daemon to log
// the outcome; it reports whether the reload was refused.
func (d *director) reload(config string) (refused bool) {
	d.tb.Helper()
	okBefore := strings.Count(d.output.String(), "msg=reloaded")
	refusedBefore := strings.Count(d.output.String(), "reload refused")
	d.writeConfig(config)
	if err := d.process.Signal(syscall.SIGHUP); err != nil {
		d.tb.Fatalf("signal reload: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := d.output.String()
		if strings.Count(out, "reload refused") > refusedBefore {
			return true
		}
		if strings.Count(out, "msg=reloaded") > okBefore {
			return false
		}
	}
	d.tb.Fatalf("no reload outcome within 5s:\n%s", d.output)
	return false
}

func (d *director) stop() {
	d.process.Stop(syscall.SIGTERM, 5*time.Second)
	if d.tb.Failed() {
		d.tb.Logf("fastlvs output:\n%s", d.output)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitStatsLine waits for the director's next per-worker stats line (one a
// second), so what it shows includes everything sent before the call.
func waitStatsLine(d *director) {
	before := strings.Count(d.output.String(), "worker 0 cpu")
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Count(d.output.String(), "worker 0 cpu") > before {
			return
		}
	}
}
