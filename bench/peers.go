package bench

import (
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

// Forwarder is one way of getting packets from the director's DirIn to its
// DirOut: fastlvs itself or a peer it is compared with. Every forwarder uses
// the same ports and the same director core.
type Forwarder interface {
	Name() string
	IsFastlvs() bool
	// Destination is the address the generator sends to.
	Destination() string
	Start(t *Topology) (Running, error)
}

// Running is a started forwarder.
type Running interface {
	// PID is the forwarder's process, 0 when it lives in the kernel.
	PID() int
	Stop() error
	// Log is what the forwarder printed, for failure messages.
	Log() string
}

// NotAvailableError says a peer cannot run on this machine; the report
// shows it as "not measured: <reason>".
type NotAvailableError struct{ Reason string }

func (e *NotAvailableError) Error() string { return "not available: " + e.Reason }

// kernelRunning is a forwarder that is kernel state; stop undoes it.
type kernelRunning struct{ stop func() error }

func (k *kernelRunning) PID() int    { return 0 }
func (k *kernelRunning) Stop() error { return k.stop() }
func (k *kernelRunning) Log() string { return "" }

// routeForwarder is plain IPv4 forwarding in the director's kernel: the
// generator sends straight to the sink's address.
type routeForwarder struct{}

func (routeForwarder) Name() string        { return "kernel route" }
func (routeForwarder) IsFastlvs() bool     { return false }
func (routeForwarder) Destination() string { return SinkAddr }
func (routeForwarder) Start(t *Topology) (Running, error) {
	return &kernelRunning{stop: func() error { return nil }}, nil
}

// nftForwarder is nftables DNAT from VIP to the sink (conntrack per flow).
type nftForwarder struct{}

func (nftForwarder) Name() string        { return "nftables dnat" }
func (nftForwarder) IsFastlvs() bool     { return false }
func (nftForwarder) Destination() string { return VIP }

// nftRuleset DNATs the bench's UDP and TCP services to the sink.
func nftRuleset() string {
	return fmt.Sprintf(`table ip fbn {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[1]s udp dport %[2]d dnat to %[3]s:%[2]d
		ip daddr %[1]s tcp dport %[4]d dnat to %[3]s:%[4]d
	}
}
`, VIP, ServicePort, SinkAddr, HTTPPort)
}

func (nftForwarder) Start(t *Topology) (Running, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, &NotAvailableError{Reason: "nft not installed (apt-get install nftables)"}
	}
	cmd := t.Dir.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nftRuleset())
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("load nftables ruleset: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return &kernelRunning{stop: func() error {
		_, err := t.Dir.Run("nft", "delete", "table", "ip", "fbn")
		// Flush conntrack by toggling nothing: the entries time out; the next
		// forwarder does not use them.
		return err
	}}, nil
}

// xdpRedirectForwarder is an in-kernel XDP program on DirIn that rewrites the
// MACs and redirects out of DirOut (the sink's XDP program receives it).
type xdpRedirectForwarder struct{}

func (xdpRedirectForwarder) Name() string        { return "xdp redirect" }
func (xdpRedirectForwarder) IsFastlvs() bool     { return false }
func (xdpRedirectForwarder) Destination() string { return VIP }
func (xdpRedirectForwarder) Start(t *Topology) (Running, error) {
	prog, err := attachRedirect(t.Dir, t.DirIn, t.SinkMAC, t.DirOutMAC, t.DirOutIndex)
	if err != nil {
		return nil, err
	}
	time.Sleep(settle)
	return &kernelRunning{stop: prog.Close}, nil
}

// testpmdForwarder is DPDK's testpmd with two net_af_xdp ports in mac
// forwarding mode, its forwarding lcore on the director's core.
type testpmdForwarder struct{}

func (testpmdForwarder) Name() string        { return "dpdk-testpmd" }
func (testpmdForwarder) IsFastlvs() bool     { return false }
func (testpmdForwarder) Destination() string { return VIP }

// testpmdDriver is the Debian package file of DPDK's AF_XDP poll-mode driver.
const testpmdDriverGlob = "/usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so*"

func (testpmdForwarder) Start(t *Topology) (Running, error) {
	if _, err := exec.LookPath("dpdk-testpmd"); err != nil {
		return nil, &NotAvailableError{Reason: "dpdk-testpmd not installed (apt-get install dpdk librte-net-af-xdp23)"}
	}
	if m, _ := filepath.Glob(testpmdDriverGlob); len(m) == 0 {
		return nil, &NotAvailableError{Reason: "DPDK net_af_xdp driver missing (apt-get install librte-net-af-xdp23)"}
	}
	if t.GenCPU == t.DirCPU {
		return nil, &NotAvailableError{Reason: "testpmd needs a main lcore besides the forwarding one"}
	}
	// Main lcore on the generator's core (it only prints statistics), the
	// single forwarding lcore on the director's core.
	filePrefix := "fbn" + strconv.Itoa(os.Getpid())
	runDir := filepath.Join("/var/run/dpdk", filePrefix) // EAL leaves its runtime files here
	lcores := fmt.Sprintf("%d,%d", t.GenCPU, t.DirCPU)
	p, err := testbed.StartProcess(t.Dir.Command("taskset", "-c", lcores, "dpdk-testpmd", "-l", lcores, "--main-lcore", strconv.Itoa(t.GenCPU),
		"--no-huge", "--no-pci", "-m", "512", "--file-prefix", filePrefix,
		"--vdev", "net_af_xdp0,iface="+t.DirIn, "--vdev", "net_af_xdp1,iface="+t.DirOut,
		"--", "--forward-mode=mac", "--eth-peer=1,"+t.SinkMAC.String(), "--eth-peer=0,"+t.GenMAC.String(),
		"--nb-cores=1", "--stats-period=1", "--total-num-mbufs=8192"))
	if err != nil {
		return nil, err
	}
	if err := p.WaitFor("packet forwarding - ports=", 20*time.Second); err != nil {
		p.Stop(syscall.SIGINT, 5*time.Second)
		_ = os.RemoveAll(runDir)
		return nil, fmt.Errorf("dpdk-testpmd: %w", err)
	}
	time.Sleep(settle)
	return &processRunning{p: p, sig: syscall.SIGINT, cleanup: func() error { return os.RemoveAll(runDir) }}, nil
}
