package e2e

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// The test machines' kernel is built without 802.1Q: no eth0.100 devices,
// and a tagged frame nobody claims is dropped. The VLAN test therefore
// makes its tags with tc programs: access ports that push their VLAN's tag
// on the way out and take it off (or refuse another VLAN's frame) on the
// way in, and, on the director, a stand-in for each VLAN sub-interface: a
// veth pair whose inner end holds the VLAN's addresses, fed with the
// trunk's frames of that VLAN that XDP passed to the kernel, tag taken off,
// and whose frames go out of the trunk tagged. fastlvs is told which device
// stands for which VLAN (the config's vlans list).

// tc return codes (linux/pkt_cls.h).
const (
	tcActUnspec = -1 // not mine: the next filter decides
	tcActOK     = 0
	tcActShot   = 2
)

// skbVLANProto is __sk_buff.vlan_proto's offset: 0 when the frame has no
// tag (the kernel has moved a received frame's tag there before tc runs).
const skbVLANProto = 28

// tcProgram loads a classifier.
func tcProgram(t *testing.T, name string, insns asm.Instructions) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load tc program %s: %v", name, err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// popVLAN takes tag vlan off a frame and sends it out of ifindex (or, with
// ifindex 0, lets it in); a frame without a tag gets untagged, one with
// another tag other.
func popVLAN(t *testing.T, vlan uint16, ifindex, untagged, other int32) *ebpf.Program {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R1, skbVLANProto, asm.Word),
		asm.JEq.Imm(asm.R2, 0, "untagged"),
		asm.LoadMem(asm.R2, asm.R1, skbVLANProto-4, asm.Word), // vlan_tci
		asm.And.Imm(asm.R2, 0x0fff),
		asm.JNE.Imm(asm.R2, int32(vlan), "other"),
		asm.FnSkbVlanPop.Call(),
	}
	if ifindex == 0 {
		insns = append(insns, asm.Mov.Imm(asm.R0, tcActOK), asm.Return())
	} else {
		insns = append(insns, asm.Mov.Imm(asm.R1, ifindex), asm.Mov.Imm(asm.R2, 0), asm.FnRedirect.Call(), asm.Return())
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, untagged).WithSymbol("untagged"), asm.Return(),
		asm.Mov.Imm(asm.R0, other).WithSymbol("other"), asm.Return())
	return tcProgram(t, fmt.Sprintf("pop%d", vlan), insns)
}

// pushVLAN tags a frame with vlan and sends it out of ifindex (or, with
// ifindex 0, on its way).
func pushVLAN(t *testing.T, vlan uint16, ifindex int32) *ebpf.Program {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, int32(htons(unix.ETH_P_8021Q))),
		asm.Mov.Imm(asm.R3, int32(vlan)),
		asm.FnSkbVlanPush.Call(),
	}
	if ifindex == 0 {
		insns = append(insns, asm.Mov.Imm(asm.R0, tcActOK), asm.Return())
	} else {
		insns = append(insns, asm.Mov.Imm(asm.R1, ifindex), asm.Mov.Imm(asm.R2, 0), asm.FnRedirect.Call(), asm.Return())
	}
	return tcProgram(t, fmt.Sprintf("push%d", vlan), insns)
}

// attachTC puts prog on iface's ingress or egress, at priority prio.
func attachTC(t *testing.T, h *testbed.Host, iface string, ingress bool, prio uint16, prog *ebpf.Program) {
	t.Helper()
	link, err := h.Netlink().LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	qdisc := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := h.Netlink().QdiscReplace(qdisc); err != nil {
		t.Fatalf("clsact on %s/%s: %v", h.Name, iface, err)
	}
	parent := uint32(netlink.HANDLE_MIN_EGRESS)
	if ingress {
		parent = netlink.HANDLE_MIN_INGRESS
	}
	filter := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: parent,
		Handle: 1, Protocol: unix.ETH_P_ALL, Priority: prio}, Fd: prog.FD(), Name: prog.String(), DirectAction: true}
	if err := h.Netlink().FilterAdd(filter); err != nil {
		t.Fatalf("tc filter on %s/%s: %v", h.Name, iface, err)
	}
}

// accessPort makes host's iface a member of vlan only: it sends tagged and
// takes in that VLAN's frames alone.
func accessPort(t *testing.T, h *testbed.Host, iface string, vlan uint16) {
	t.Helper()
	attachTC(t, h, iface, false, 1, pushVLAN(t, vlan, 0))
	attachTC(t, h, iface, true, 1, popVLAN(t, vlan, 0, tcActOK, tcActShot))
}

// vlanStandIn makes device (veth, its peer device+"p") in host stand for
// vlan of trunk: the trunk's frames of the VLAN reach device untagged, and
// device's frames leave by the trunk tagged.
func vlanStandIn(t *testing.T, bed *testbed.Bed, h *testbed.Host, trunk, device string, vlan uint16) {
	t.Helper()
	peer := device + "p"
	if err := bed.Connect(h, device, h, peer, testbed.LinkOptions{Queues: 1}); err != nil {
		t.Fatal(err)
	}
	peerIndex, err := h.Ifindex(peer)
	if err != nil {
		t.Fatal(err)
	}
	trunkIndex, err := h.Ifindex(trunk)
	if err != nil {
		t.Fatal(err)
	}
	attachTC(t, h, trunk, true, vlan, popVLAN(t, vlan, int32(peerIndex), tcActUnspec, tcActUnspec))
	attachTC(t, h, peer, true, 1, pushVLAN(t, vlan, int32(trunkIndex)))
}
