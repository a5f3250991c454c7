package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildFastlvs compiles the director into dir and returns the binary's path.
func BuildFastlvs(dir string) (string, error) {
	bin := filepath.Join(dir, "fastlvs")
	out, err := exec.Command("go", "build", "-o", bin, "fastlvs/cmd/fastlvs").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build fastlvs: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// fastlvsConfig is the director's configuration for a bench run: both ports,
// one worker pinned to cpu, a UDP service for packet rate and a TCP service
// for wrk, each with the sink as its only real server.
func fastlvsConfig(t *Topology, forward, apiSock string) string {
	return fmt.Sprintf(`interfaces: [%s, %s]
workers: 1
cpus: [%d]
api: unix://%s
metrics: ""
conntrack: {capacity: 262144}
services:
  - name: bench-udp
    vip: %s
    port: %d
    protocol: udp
    scheduler: rr
    forward: %s
    health_check: {type: none}
    real_servers:
      - {address: %s, port: %d, weight: 1}
  - name: bench-tcp
    vip: %s
    port: %d
    protocol: tcp
    scheduler: rr
    forward: %s
    health_check: {type: none}
    real_servers:
      - {address: %s, port: %d, weight: 1}
`, t.DirIn, t.DirOut, t.DirCPU, apiSock,
		VIP, ServicePort, forward, SinkAddr, ServicePort,
		VIP, HTTPPort, forward, SinkAddr, HTTPPort)
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a child the bench started (by PID, stopped by PID).
type process struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, output: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Args[0]), err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// waitFor waits until the output contains marker, the process exits or
// timeout passes.
func (p *process) waitFor(marker string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output.String(), marker) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before %q: %s", marker, lastLines(p.output.String(), 5))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q within %s: %s", marker, timeout, lastLines(p.output.String(), 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// PID is the child's process id (`ip netns exec` and `taskset` exec, so it
// is the program's own).
func (p *process) PID() int { return p.cmd.Process.Pid }

// stop asks the process to end with sig and kills it after 5 s.
func (p *process) stop(sig syscall.Signal) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return nil
}

// fastlvsForwarder runs the fastlvs binary in the director namespace.
type fastlvsForwarder struct {
	binary  string
	forward string // dr | nat
	workDir string
}

func (f *fastlvsForwarder) Name() string        { return "fastlvs " + f.forward }
func (f *fastlvsForwarder) IsFastlvs() bool     { return true }
func (f *fastlvsForwarder) Destination() string { return VIP }

func (f *fastlvsForwarder) Start(t *Topology) (Running, error) {
	dir, err := os.MkdirTemp(f.workDir, "fastlvs-"+f.forward+"-")
	if err != nil {
		return nil, fmt.Errorf("make fastlvs work dir: %w", err)
	}
	config := filepath.Join(dir, "fastlvs.yaml")
	if err := os.WriteFile(config, []byte(fastlvsConfig(t, f.forward, filepath.Join(dir, "api.sock"))), 0o644); err != nil {
		return nil, fmt.Errorf("write fastlvs config: %w", err)
	}
	p, err := startProcess(t.Dir.Command(f.binary, "--config", config, "--stats-interval", "1s"))
	if err != nil {
		return nil, err
	}
	if err := p.waitFor("fastlvs running", 15*time.Second); err != nil {
		_ = p.stop(syscall.SIGTERM)
		return nil, fmt.Errorf("fastlvs %s: %w", f.forward, err)
	}
	time.Sleep(settle) // attaching XDP resets the link
	return &processRunning{p: p, sig: syscall.SIGTERM}, nil
}

// settle is how long a link needs after an XDP attach before it carries traffic.
const settle = 500 * time.Millisecond

// processRunning is a forwarder that is a child process.
type processRunning struct {
	p       *process
	sig     syscall.Signal
	cleanup func() error // optional, after the process ended
}

func (r *processRunning) PID() int    { return r.p.PID() }
func (r *processRunning) Log() string { return r.p.output.String() }

func (r *processRunning) Stop() error {
	err := r.p.stop(r.sig)
	if r.cleanup != nil {
		err = errors.Join(err, r.cleanup())
	}
	return err
}
