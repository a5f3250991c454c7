package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"fastlvs/testbed"
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
// one worker pinned to cpu under priority (if not empty), a UDP service for
// packet rate and a TCP service for wrk, each with the sink as its only real
// server.
func fastlvsConfig(t *Topology, forward, priority, apiSock string) string {
	// FULLNAT needs local addresses; the sink never answers, so they only
	// have to exist in the configuration.
	locals := ""
	if forward == "fullnat" {
		locals = "\n    local_addresses: [198.18.3.1]"
	}
	workerPriority := ""
	if priority != "" {
		workerPriority = "\nworker_priority: " + priority
	}
	return fmt.Sprintf(`interfaces: [%s, %s]
workers: 1
cpus: [%d]%s
api: unix://%s
metrics: ""
conntrack: {capacity: 262144}
services:
  - name: bench-udp
    vip: %s
    port: %d
    protocol: udp
    scheduler: rr
    forward: %s%s
    health_check: {type: none}
    real_servers:
      - {address: %s, port: %d, weight: 1}
  - name: bench-tcp
    vip: %s
    port: %d
    protocol: tcp
    scheduler: rr
    forward: %s%s
    health_check: {type: none}
    real_servers:
      - {address: %s, port: %d, weight: 1}
`, t.DirIn, t.DirOut, t.DirCPU, workerPriority, apiSock,
		VIP, ServicePort, forward, locals, SinkAddr, ServicePort,
		VIP, HTTPPort, forward, locals, SinkAddr, HTTPPort)
}

// fastlvsForwarder runs the fastlvs binary in the director namespace.
type fastlvsForwarder struct {
	binary   string
	forward  string // dr | nat | fullnat | tun
	priority string // the worker's scheduling policy, see priority.go
	workDir  string
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
	if err := os.WriteFile(config, []byte(fastlvsConfig(t, f.forward, f.priority, filepath.Join(dir, "api.sock"))), 0o644); err != nil {
		return nil, fmt.Errorf("write fastlvs config: %w", err)
	}
	p, err := testbed.StartProcess(t.Dir.Command(f.binary, "--config", config, "--stats-interval", "1s"))
	if err != nil {
		return nil, err
	}
	if err := p.WaitFor("fastlvs running", 15*time.Second); err != nil {
		p.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, fmt.Errorf("fastlvs %s: %w", f.forward, err)
	}
	if f.priority != "" && f.priority != normalPriority {
		if err := awaitPriority(p.PID(), t.DirCPU, f.priority); err != nil {
			p.Stop(syscall.SIGTERM, 5*time.Second)
			return nil, fmt.Errorf("fastlvs worker_priority: %w", err)
		}
	}
	time.Sleep(settle) // attaching XDP resets the link
	return &processRunning{p: p, sig: syscall.SIGTERM}, nil
}

// settle is how long a link needs after an XDP attach before it carries traffic.
const settle = 500 * time.Millisecond

// processRunning is a forwarder that is a child process.
type processRunning struct {
	p       *testbed.Process
	sig     syscall.Signal
	cleanup func() error // optional, after the process ended
}

func (r *processRunning) PID() int    { return r.p.PID() }
func (r *processRunning) Log() string { return r.p.Output() }

func (r *processRunning) Stop() error {
	r.p.Stop(r.sig, 5*time.Second)
	if r.cleanup != nil {
		return r.cleanup()
	}
	return nil
}
