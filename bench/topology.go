package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// The packet-rate topology: three hosts in a line, one veth pair each side
// of the director, so every path under test uses the same two ports.
//
//	gen  GenIf ─── DirIn  dir  DirOut ─── SinkIf  sink
//	198.18.1.11       198.18.1.1  198.18.2.1       198.18.2.11
//	                  VIP 198.18.0.10/32
//
// Every neighbour entry is permanent: the sink drops ARP with everything else.
const (
	GenAddr     = "198.18.1.11"
	DirInAddr   = "198.18.1.1"
	DirOutAddr  = "198.18.2.1"
	SinkAddr    = "198.18.2.11"
	VIP         = "198.18.0.10"
	ServicePort = 9 // UDP discard: the packet-rate service
	HTTPPort    = 80
)

// Topology is the bench's three-host line with its interface names.
type Topology struct {
	Bed                          *testbed.Bed
	Gen, Dir, Sink               *testbed.Host
	GenIf, DirIn, DirOut, SinkIf string
	GenMAC, DirInMAC, DirOutMAC  net.HardwareAddr
	SinkMAC                      net.HardwareAddr
	DirInIndex, DirOutIndex      int
	GenCPU, DirCPU               int
	napiThreads                  []string // interfaces whose NAPI runs in a kthread
}

// ifaceName makes an interface name unique to this process and short enough
// that its NAPI kthread, "napi/<name>-<id>", keeps the whole name in its
// 15-character comm.
func ifaceName(role string) string {
	return fmt.Sprintf("fb%04x%s", os.Getpid()&0xffff, role)
}

// BuildTopology makes the three hosts in bed, addresses them, fills the
// neighbour tables and applies TESTBED.md's settings for per-core numbers:
// TSO off and GRO on everywhere, threaded NAPI, the director's kthreads on
// dirCPU, the generator's and sink's on genCPU (the sink's SCHED_FIFO, so a
// busy generator cannot starve it).
func BuildTopology(bed *testbed.Bed, genCPU, dirCPU int) (*Topology, error) {
	t := &Topology{Bed: bed, GenCPU: genCPU, DirCPU: dirCPU,
		GenIf: ifaceName("g0"), DirIn: ifaceName("d0"), DirOut: ifaceName("d1"), SinkIf: ifaceName("s0")}
	var err error
	if t.Gen, err = bed.Host("gen"); err != nil {
		return nil, err
	}
	if t.Dir, err = bed.Host("dir"); err != nil {
		return nil, err
	}
	if t.Sink, err = bed.Host("sink"); err != nil {
		return nil, err
	}
	if err := bed.Connect(t.Gen, t.GenIf, t.Dir, t.DirIn, testbed.LinkOptions{}); err != nil {
		return nil, err
	}
	if err := bed.Connect(t.Dir, t.DirOut, t.Sink, t.SinkIf, testbed.LinkOptions{}); err != nil {
		return nil, err
	}
	if err := t.address(); err != nil {
		return nil, err
	}
	if err := t.tune(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Topology) address() error {
	steps := []func() error{
		func() error { return t.Gen.AddAddr(t.GenIf, GenAddr+"/24") },
		func() error { return t.Dir.AddAddr(t.DirIn, DirInAddr+"/24") },
		func() error { return t.Dir.AddAddr(t.DirIn, VIP+"/32") },
		func() error { return t.Dir.AddAddr(t.DirOut, DirOutAddr+"/24") },
		func() error { return t.Sink.AddAddr(t.SinkIf, SinkAddr+"/24") },
		func() error { return t.Sink.AddAddr("lo", VIP+"/32") }, // DR: the real server owns the VIP too
		func() error { return t.Gen.AddRoute("default", DirInAddr) },
		func() error { return t.Sink.AddRoute("default", DirOutAddr) },
		func() error { return t.Dir.Sysctl("net.ipv4.ip_forward", "1") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	var err error
	for _, m := range []struct {
		h     *testbed.Host
		iface string
		mac   *net.HardwareAddr
	}{{t.Gen, t.GenIf, &t.GenMAC}, {t.Dir, t.DirIn, &t.DirInMAC}, {t.Dir, t.DirOut, &t.DirOutMAC}, {t.Sink, t.SinkIf, &t.SinkMAC}} {
		if *m.mac, err = m.h.MAC(m.iface); err != nil {
			return err
		}
	}
	if t.DirInIndex, err = t.Dir.Ifindex(t.DirIn); err != nil {
		return err
	}
	if t.DirOutIndex, err = t.Dir.Ifindex(t.DirOut); err != nil {
		return err
	}
	return errors.Join(
		t.Gen.AddNeighbor(t.GenIf, DirInAddr, t.DirInMAC),
		t.Dir.AddNeighbor(t.DirIn, GenAddr, t.GenMAC),
		t.Dir.AddNeighbor(t.DirOut, SinkAddr, t.SinkMAC),
		t.Sink.AddNeighbor(t.SinkIf, DirOutAddr, t.DirOutMAC),
	)
}

func (t *Topology) tune() error {
	ends := []struct {
		h     *testbed.Host
		iface string
	}{{t.Gen, t.GenIf}, {t.Dir, t.DirIn}, {t.Dir, t.DirOut}, {t.Sink, t.SinkIf}}
	for _, e := range ends {
		if err := e.h.SetOffloads(e.iface, false, true); err != nil {
			return err
		}
		if err := e.h.SetThreadedNAPI(e.iface, true); err != nil {
			return err
		}
		t.napiThreads = append(t.napiThreads, e.iface)
	}
	return t.PinNAPI()
}

// PinNAPI puts each interface's NAPI kthread on its host's core. Attaching
// XDP can recreate a veth's NAPI, so runs call it again after every attach.
func (t *Topology) PinNAPI() error {
	placement := map[string]struct {
		cpu  int
		fifo bool
	}{
		t.GenIf:  {t.GenCPU, false},
		t.DirIn:  {t.DirCPU, false},
		t.DirOut: {t.DirCPU, false},
		t.SinkIf: {t.GenCPU, true},
	}
	threads, err := napiThreads()
	if err != nil {
		return err
	}
	for pid, comm := range threads {
		for iface, p := range placement {
			if !strings.HasPrefix(comm, "napi/"+iface+"-") {
				continue
			}
			if err := pinThread(pid, p.cpu); err != nil {
				return fmt.Errorf("pin %s: %w", comm, err)
			}
			if p.fifo {
				if err := setFIFO(pid, 50); err != nil {
					return fmt.Errorf("set %s SCHED_FIFO: %w", comm, err)
				}
			}
		}
	}
	return nil
}

// napiThreads lists kernel threads named napi/... by PID.
func napiThreads() (map[int]string, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	out := map[int]string{}
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasPrefix(string(b), "napi/") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		out[pid] = strings.TrimSpace(string(b))
	}
	return out, nil
}

func pinThread(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(pid, &set)
}

func setFIFO(pid, priority int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(priority)}
	return unix.SchedSetAttr(pid, &attr, 0)
}

// ClearDirectorXDP detaches whatever XDP program a forwarder left on the
// director's ports (a peer killed before it detached, or one that attaches
// through netlink and forgets): the next forwarder must find them bare, or
// it cannot attach and the kernel's paths would be measured through it.
// It reports the ports it had to clear.
func (t *Topology) ClearDirectorXDP() ([]string, error) {
	var cleared []string
	for _, name := range []string{t.DirIn, t.DirOut} {
		link, err := t.Dir.Netlink().LinkByName(name)
		if err != nil {
			return cleared, err
		}
		if xdp := link.Attrs().Xdp; xdp == nil || !xdp.Attached {
			continue
		}
		if err := t.Dir.Do(func() error { return netlink.LinkSetXdpFd(link, -1) }); err != nil {
			return cleared, fmt.Errorf("detach XDP from %s: %w", name, err)
		}
		cleared = append(cleared, name)
	}
	return cleared, nil
}
