package bench

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fastlvs/testbed"
)

// The C forwarder (cforward/cforward.c) is the ceiling fastlvs is held to:
// the same two veth ports in the same AF_XDP copy mode with the same ring
// sizes, batch and core, doing nothing to a frame but rewrite its Ethernet
// addresses. It is compiled at bench time against Debian's libxdp; without
// a compiler or the library the peer reports "not available".
//
//go:embed cforward/cforward.c
var cforwardSource []byte

// The C forwarder's idle policies, as its -w flag takes them.
const (
	idlePoll = "poll"     // poll() as soon as both RX rings are empty
	idleSpin = "spin:256" // poll() after 256 empty passes, as fastlvs's worker did before idle.go
	idleBusy = "busy"     // never poll
)

// cforwardPackages is what building the C forwarder needs from Debian.
const cforwardPackages = "gcc libxdp-dev libbpf-dev"

// BuildCForward compiles the C forwarder into dir and returns its path.
func BuildCForward(dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", &NotAvailableError{Reason: "no C compiler (apt-get install " + cforwardPackages + ")"}
	}
	if _, err := os.Stat("/usr/include/xdp/xsk.h"); err != nil {
		return "", &NotAvailableError{Reason: "libxdp headers missing (apt-get install " + cforwardPackages + ")"}
	}
	src := filepath.Join(dir, "cforward.c")
	if err := os.WriteFile(src, cforwardSource, 0o644); err != nil {
		return "", fmt.Errorf("write cforward source: %w", err)
	}
	bin := filepath.Join(dir, "cforward")
	out, err := exec.Command(cc, "-O2", "-Wall", "-o", bin, src, "-lxdp", "-lbpf").CombinedOutput()
	if err != nil {
		return "", &NotAvailableError{Reason: "cforward does not build: " + lastLines(strings.TrimSpace(string(out)), 3)}
	}
	return bin, nil
}

// cforwardForwarder runs the C forwarder in the director namespace.
type cforwardForwarder struct {
	binary   func() (string, error) // built on first use
	idle     string
	priority string
}

func (c *cforwardForwarder) Name() string {
	switch c.idle {
	case idleSpin:
		return "cforward spin"
	case idleBusy:
		return "cforward busy"
	}
	return "cforward"
}

func (c *cforwardForwarder) IsFastlvs() bool     { return false }
func (c *cforwardForwarder) Destination() string { return VIP }

func (c *cforwardForwarder) Start(t *Topology) (Running, error) {
	if c.idle == idleBusy && isFIFO(c.priority) {
		return nil, &NotAvailableError{Reason: "busy polling at SCHED_FIFO would starve the core's NAPI"}
	}
	bin, err := c.binary()
	if err != nil {
		return nil, err
	}
	// libxdp's dispatcher cannot load in these namespaces; skipping it
	// saves the failed attempt and its warnings before the fallback.
	p, err := c.start(t, bin)
	if err != nil {
		return nil, err
	}
	if c.priority != normalPriority {
		if err := awaitPriority(p.PID(), t.DirCPU, c.priority); err != nil {
			p.Stop(syscall.SIGTERM, 5*time.Second)
			return nil, fmt.Errorf("cforward -p: %w", err)
		}
	}
	time.Sleep(settle) // attaching XDP resets the link
	return &processRunning{p: p, sig: syscall.SIGTERM}, nil
}

// start runs the forwarder until it says it runs. The kernel releases the
// last forwarder's AF_XDP queue in a work queue, so a start right after a
// stop can find the queue busy for a moment: try again for a while (fastlvs
// does the same in xsk.Open).
func (c *cforwardForwarder) start(t *Topology, bin string) (*testbed.Process, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		cmd := t.Dir.Command(bin, "-i", t.DirIn, "-o", t.DirOut, "-I", t.GenMAC.String(), "-O", t.SinkMAC.String(),
			"-c", strconv.Itoa(t.DirCPU), "-w", c.idle, "-p", c.priority)
		cmd.Env = append(os.Environ(), "LIBXDP_SKIP_DISPATCHER=1")
		p, err := testbed.StartProcess(cmd)
		if err != nil {
			return nil, err
		}
		err = p.WaitFor("cforward running", 15*time.Second)
		if err == nil {
			return p, nil
		}
		p.Stop(syscall.SIGTERM, 5*time.Second)
		if !strings.Contains(p.Output(), "Device or resource busy") || time.Now().After(deadline) {
			return nil, fmt.Errorf("cforward: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
