package steer

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// removeStaleProgram detaches a fastlvs steering program that an earlier
// process attached through netlink. Such a program outlives its process (a
// bpf_link would not) and would keep steering frames to sockets that are gone.
// Programs of other names are left alone: attaching then fails with EBUSY.
func removeStaleProgram(ifindex int) error {
	iface, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("look up ifindex %d: %w", ifindex, err)
	}
	xdp := iface.Attrs().Xdp
	if xdp == nil || !xdp.Attached || xdp.ProgId == 0 {
		return nil
	}
	var flags int
	switch xdp.AttachMode {
	case nl.XDP_ATTACHED_DRV:
		flags = nl.XDP_FLAGS_DRV_MODE
	case nl.XDP_ATTACHED_SKB:
		flags = nl.XDP_FLAGS_SKB_MODE
	default:
		return nil // offloaded or several programs: not ours to judge
	}

	ours, err := isSteeringProgram(ebpf.ProgramID(xdp.ProgId))
	if err != nil || !ours {
		return err
	}
	if err := netlink.LinkSetXdpFdWithFlags(iface, -1, flags); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("remove stale xdp program %d from %s: %w (attached by a live bpf link: is another fastlvs running?)",
				xdp.ProgId, iface.Attrs().Name, err)
		}
		return fmt.Errorf("remove stale xdp program %d from %s: %w", xdp.ProgId, iface.Attrs().Name, err)
	}
	return nil
}

func isSteeringProgram(id ebpf.ProgramID) (bool, error) {
	prog, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, unix.ENOENT) {
		return false, nil // detached meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("open xdp program %d: %w", id, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return false, fmt.Errorf("read xdp program %d info: %w", id, err)
	}
	return info.Name == ProgramName, nil
}
