package testbed

import (
	"fmt"
	"strconv"
)

// SetOffloads switches TSO and GRO on a veth end (via ethtool). TESTBED.md: a veth hands a packet to its peer's
// own NAPI (own softirq, own core) only when the peer has GRO (or XDP) on and the sender has TSO off; otherwise
// the whole receive path runs inline on the sender's core.
func (h *Host) SetOffloads(iface string, tso, gro bool) error {
	_, err := h.Run("ethtool", "-K", iface, "tso", onOff(tso), "gro", onOff(gro))
	return err
}

// SetThreadedNAPI moves an interface's NAPI polling into a kthread ("napi/<dev>-<id>") that can be pinned with
// taskset or given SCHED_FIFO. The interface must be up with GRO or XDP on.
func (h *Host) SetThreadedNAPI(iface string, on bool) error {
	_, err := h.Run("sh", "-c", "echo "+strconv.Itoa(boolInt(on))+" > /sys/class/net/"+iface+"/threaded")
	if err != nil {
		return fmt.Errorf("threaded napi on %s: %w", iface, err)
	}
	return nil
}

// TuneOffloads applies TESTBED.md's settings for honest per-core numbers to every veth end of the topology:
// TSO off and GRO on, and threaded NAPI on the director's interfaces when threaded is true. Opt-in: it costs
// one ethtool run per interface.
func (t *Topology) TuneOffloads(threaded bool) error {
	for _, iface := range t.DirectorIfaces {
		if err := t.Director.SetOffloads(iface, false, true); err != nil {
			return err
		}
		if threaded {
			if err := t.Director.SetThreadedNAPI(iface, true); err != nil {
				return err
			}
		}
	}
	for _, h := range append(append([]*Host(nil), t.Clients...), t.Reals...) {
		if err := h.SetOffloads("eth0", false, true); err != nil {
			return err
		}
	}
	for _, lan := range t.LANs {
		ports, err := lan.nl.LinkList()
		if err != nil {
			return fmt.Errorf("list links in %s: %w", lan.Name, err)
		}
		for _, port := range ports {
			if port.Type() != "veth" {
				continue
			}
			if err := lan.SetOffloads(port.Attrs().Name, false, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
