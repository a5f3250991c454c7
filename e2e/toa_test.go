package e2e

import (
	"bufio"
	"bytes"
	endian "encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// toaCgroup creates a cgroup v2 directory for the test's real-server
// applications and removes it at the end; it returns its path and an open
// descriptor (for starting processes in it).
func toaCgroup(t *testing.T) (string, int) {
	t.Helper()
	root, err := cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, fmt.Sprintf("fpt-toa-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		// Its processes were stopped by later cleanups (run first).
		for range 50 {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	})
	return dir, int(f.Fd())
}

// cgroup2Root is where the unified (v2) cgroup hierarchy is mounted.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1], nil
		}
	}
	return "", errors.New("no cgroup2 mount (sock_ops programs attach to cgroup v2)")
}

// bpfFS mounts a bpf file system in a temporary directory, for the TOA
// map's pin, and unmounts it at the end.
func bpfFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

// buildCommand builds a command of the module into the test's temp dir.
func buildCommand(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// start runs cmd and stops it (by its PID) when the test ends.
func start(t *testing.T, what string, cmd *exec.Cmd, ready string) *testbed.Process {
	t.Helper()
	p, err := testbed.StartProcess(cmd)
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGTERM, 5*time.Second) })
	if err := p.WaitFor(ready, 10*time.Second); err != nil {
		t.Fatalf("%s did not start: %v\n%s", what, err, p.Output())
	}
	return p
}

// TestFullNATTOA: FULLNAT with client_address: toa, over IPv4 and IPv6, to
// three real servers without a route to the clients, each running
// fastlvs-toa's example HTTP server in a cgroup where fastlvs-toa attached
// the TOA reader. 300 requests from two clients are each answered with the
// client the eBPF reader recorded for the accepted connection: the client's
// own address and port, every time. On what the real servers receive, every
// connection's handshake ACK (and first data segment) carries option 254
// (IPv4, length 8) or 253 (IPv6, length 20) with the client's port and
// address, byte for byte.
func TestFullNATTOA(t *testing.T) {
	t.Run("ipv4", func(t *testing.T) {
		topo := fullnatNetwork(t, "fpt", 1)
		cfg := strings.Replace(fullnatConfig(), "forward: fullnat,", "forward: fullnat, client_address: toa,", 1)
		checkTOA(t, topo, topo.ClientAddrs, topo.RealAddrs, cfg, "http://198.18.0.10")
	})
	t.Run("ipv6", func(t *testing.T) {
		topo, clientAddrs, realAddrs, reals := fullnatNetwork6(t, "fpt6")
		checkTOA(t, topo, clientAddrs, realAddrs, fullnatConfig6("toa", reals), "http://["+fullnatVIP6+"]")
	})
}

// checkTOA runs the TOA reader and its example server on every real server
// of topo, the director with cfg, 300 requests to base, and checks the
// answers and what the real servers received.
func checkTOA(t *testing.T, topo *testbed.Topology, clientAddrs, realAddrs []string, cfg, base string) {
	t.Helper()
	cgroup, cgroupFD := toaCgroup(t)
	pin := filepath.Join(bpfFS(t), "toa_clients")
	bin := buildCommand(t, "fastlvs/cmd/fastlvs-toa")
	start(t, "fastlvs-toa", exec.Command(bin, "--cgroup", cgroup, "--pin", pin), "fastlvs-toa running")

	var captures []*packetCapture
	for i, r := range topo.Reals {
		name := fmt.Sprintf("r%d", i+1)
		captures = append(captures, capturePackets(t, r, "eth0"))
		echo := r.Command(bin, "echo", "--pin", pin, "--listen", net.JoinHostPort(realAddrs[i], "80"), "--name", name)
		echo.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
		start(t, "echo server on "+name, echo, "serving on")
	}
	startDirector(t, topo, cfg)

	const requests = 300
	rs, clients := driveTold(t, topo, clientAddrs, base, requests)
	checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 2, "r3": 3}, 5)
	known := map[string]bool{}
	for _, cc := range clients {
		for a := range cc.locals {
			known[a] = true
		}
	}
	flows := 0
	for i, c := range captures {
		flows += checkTOACapture(t, fmt.Sprintf("r%d", i+1), c.drain(t), known)
	}
	if flows != requests {
		t.Fatalf("captures hold %d connections with TOA, want %d", flows, requests)
	}
}

// checkTOACapture reads one real server's capture: for every connection
// toward port 80, each segment after the SYN up to and including the first
// that carries data (the handshake ACK, any repeated ACK, the request)
// carries exactly one TOA option, kind 254 length 8 over IPv4, 253 length 20
// over IPv6, whose port and address are a client connection's; later ones
// carry none. It returns how many connections it saw.
func checkTOACapture(t *testing.T, path string, frames [][]byte, known map[string]bool) int {
	t.Helper()
	seen := map[uint16]int{}      // local port → segments after the SYN
	dataSent := map[uint16]bool{} // local port → its first data segment went by
	told := map[uint16]string{}
	for _, data := range frames {
		pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.DstPort != 80 || tcp.SYN || tcp.RST {
			continue
		}
		var toa []layers.TCPOption
		for _, o := range tcp.Options {
			if o.OptionType == 253 || o.OptionType == 254 {
				toa = append(toa, o)
			}
		}
		port := uint16(tcp.SrcPort)
		n := seen[port]
		seen[port]++
		if dataSent[port] {
			if len(toa) != 0 {
				t.Fatalf("%s: segment %d of local port %d, after its first data, carries TOA %v", path, n, port, toa)
			}
			continue
		}
		dataSent[port] = len(tcp.Payload) > 0
		kind, length := layers.TCPOptionKind(254), uint8(8)
		if pk.Layer(layers.LayerTypeIPv6) != nil {
			kind, length = 253, 20
		}
		if len(toa) != 1 || toa[0].OptionType != kind || toa[0].OptionLength != length || len(toa[0].OptionData) != int(length)-2 {
			t.Fatalf("%s: segment %d of local port %d: TOA %+v, want one option %d of length %d", path, n, port, toa, kind, length)
		}
		d := toa[0].OptionData
		a, _ := netip.AddrFromSlice(d[2:])
		client := netip.AddrPortFrom(a, endian.BigEndian.Uint16(d)).String()
		if !known[client] {
			t.Fatalf("%s: TOA names %s, not a client connection", path, client)
		}
		if prev, ok := told[port]; ok && prev != client {
			t.Fatalf("%s: local port %d told %s, then %s", path, port, prev, client)
		}
		told[port] = client
		want := append([]byte{byte(kind), length}, d...)
		if raw := tcpOptionBytes(tcp); !bytes.Contains(raw, want) {
			t.Fatalf("%s: option bytes % x do not hold % x", path, raw, want)
		}
	}
	return len(told)
}

// tcpOptionBytes is the raw option area of a decoded segment.
func tcpOptionBytes(tcp *layers.TCP) []byte {
	return tcp.Contents[20:]
}

// packetCapture keeps the frames one interface of a host receives, from an
// AF_PACKET socket in its namespace with a large buffer, so that none is
// lost while the machine is busy.
type packetCapture struct {
	fd       int
	frames   [][]byte
	stopping atomic.Bool
	done     chan struct{}
}

func capturePackets(t *testing.T, h *testbed.Host, iface string) *packetCapture {
	t.Helper()
	c := &packetCapture{done: make(chan struct{})}
	err := h.Do(func() error {
		var err error
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL))); err != nil {
			return err
		}
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 100_000}
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", h.Name, err)
	}
	go func() {
		defer close(c.done)
		defer unix.Close(c.fd)
		buf := make([]byte, 65536)
		last := time.Now()
		for !c.stopping.Load() || time.Since(last) < 500*time.Millisecond {
			n, _, err := unix.Recvfrom(c.fd, buf, 0)
			if err != nil {
				continue // the receive timeout
			}
			last = time.Now()
			c.frames = append(c.frames, append([]byte(nil), buf[:n]...))
		}
	}()
	t.Cleanup(func() { c.stopping.Store(true); <-c.done })
	return c
}

// drain waits until the interface has been quiet for half a second and
// returns every frame it received.
func (c *packetCapture) drain(t *testing.T) [][]byte {
	c.stopping.Store(true)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("capture never went quiet")
	}
	return c.frames
}
