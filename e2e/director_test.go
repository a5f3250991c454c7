// Package e2e runs the built fastlvs binary as a director inside a network
// namespace sandbox and checks, by what real clients and real servers see,
// that it balances real TCP and UDP traffic.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// director is a running fastlvs process in the topology's director namespace.
type director struct {
	tb         testing.TB
	cmd        *exec.Cmd
	configPath string
	output     *syncBuffer
	exited     chan struct{}
}

// startDirector writes config and runs fastlvs with it; it returns once the
// daemon says it runs (and the link has settled after the XDP attach).
func startDirector(tb testing.TB, topo *testbed.Topology, config string, extraArgs ...string) *director {
	tb.Helper()
	dir := tb.TempDir()
	d := &director{tb: tb, configPath: filepath.Join(dir, "fastlvs.yaml"), output: &syncBuffer{}, exited: make(chan struct{})}
	d.writeConfig(config)
	args := append([]string{"--config", d.configPath, "--api", "unix://" + filepath.Join(dir, "api.sock"),
		"--stats-interval", "1s", "--watch=false"}, extraArgs...)
	d.cmd = topo.Director.Command(binary, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.output, d.output
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start fastlvs: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	tb.Cleanup(d.stop)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.output.String(), "fastlvs running") {
		select {
		case <-d.exited:
			tb.Fatalf("fastlvs exited at start:\n%s", d.output)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("fastlvs did not start within 10s:\n%s", d.output)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // attaching XDP resets the link
	return d
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
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
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
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	if d.tb.Failed() {
		d.tb.Logf("fastlvs output:\n%s", d.output)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
