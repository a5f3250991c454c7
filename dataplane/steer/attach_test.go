package steer

import (
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func attach(tb testing.TB, ifindex int, mode Mode) *Program {
	tb.Helper()
	prog, err := Attach(ifindex, mode)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

func programID(tb testing.TB, prog *ebpf.Program) uint32 {
	tb.Helper()
	info, err := prog.Info()
	if err != nil {
		tb.Fatalf("program info: %v", err)
	}
	id, ok := info.ID()
	if !ok {
		tb.Fatal("program info has no id")
	}
	return uint32(id)
}

func TestAttachNativeThenCloseDetaches(t *testing.T) {
	veth := newVethNamespace(t)
	ifindex := veth.link.Attrs().Index

	prog := attach(t, ifindex, ModeNative)
	if prog.Mode() != ModeNative {
		t.Errorf("Mode() = %v, want native", prog.Mode())
	}
	state := xdpState(t, ifindex)
	if !state.Attached || state.AttachMode != nl.XDP_ATTACHED_DRV || state.ProgId != programID(t, prog.objects.FastlvsSteer) {
		t.Fatalf("after Attach: xdp %+v, want program %d in driver mode", state, programID(t, prog.objects.FastlvsSteer))
	}

	must(t, prog.Close())
	if state := xdpState(t, ifindex); state.Attached {
		t.Errorf("after Close: xdp %+v, want detached", state)
	}
	if err := prog.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAttachAutoPrefersNative(t *testing.T) {
	veth := newVethNamespace(t)
	prog := attach(t, veth.link.Attrs().Index, ModeAuto)
	if prog.Mode() != ModeNative {
		t.Errorf("Mode() = %v, want native on veth", prog.Mode())
	}
}

func TestAttachGeneric(t *testing.T) {
	veth := newVethNamespace(t)
	ifindex := veth.link.Attrs().Index
	prog := attach(t, ifindex, ModeGeneric)
	if prog.Mode() != ModeGeneric {
		t.Errorf("Mode() = %v, want generic", prog.Mode())
	}
	if state := xdpState(t, ifindex); state.AttachMode != nl.XDP_ATTACHED_SKB {
		t.Errorf("xdp %+v, want generic (skb) mode", state)
	}
}

// A second process must not steal the interface from a live one: its program
// is attached by a bpf_link, which netlink cannot remove.
func TestAttachRefusesWhileAnotherIsLive(t *testing.T) {
	veth := newVethNamespace(t)
	ifindex := veth.link.Attrs().Index
	first := attach(t, ifindex, ModeNative)

	second, err := Attach(ifindex, ModeAuto)
	if err == nil {
		second.Close()
		t.Fatal("second Attach succeeded while the first is attached")
	}
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("second Attach: %v, want EBUSY", err)
	}
	if state := xdpState(t, ifindex); state.ProgId != programID(t, first.objects.FastlvsSteer) {
		t.Errorf("xdp %+v, want the first program still attached", state)
	}
}

// A process that attached through netlink and crashed leaves its program
// behind; Attach recognises it by name and replaces it.
func TestAttachReplacesStaleNetlinkProgram(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags int
	}{
		{"driver", nl.XDP_FLAGS_DRV_MODE},
		{"generic", nl.XDP_FLAGS_SKB_MODE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			veth := newVethNamespace(t)
			ifindex := veth.link.Attrs().Index

			crashed, err := load()
			must(t, err)
			staleID := programID(t, crashed.objects.FastlvsSteer)
			if err := netlink.LinkSetXdpFdWithFlags(veth.link, crashed.objects.FastlvsSteer.FD(), tc.flags); err != nil {
				t.Fatalf("attach the stale program through netlink: %v", err)
			}
			must(t, crashed.Close()) // the process is gone; the attachment stays
			if state := xdpState(t, ifindex); state.ProgId != staleID {
				t.Fatalf("xdp %+v, want stale program %d attached", state, staleID)
			}

			prog := attach(t, ifindex, ModeAuto)
			state := xdpState(t, ifindex)
			if state.ProgId != programID(t, prog.objects.FastlvsSteer) || state.AttachMode != nl.XDP_ATTACHED_DRV {
				t.Errorf("xdp %+v, want the new program %d in driver mode", state, programID(t, prog.objects.FastlvsSteer))
			}
			must(t, prog.Close())
			if state := xdpState(t, ifindex); state.Attached {
				t.Errorf("after Close: xdp %+v, want detached", state)
			}
		})
	}
}

// Another project's XDP program is not ours to remove.
func TestAttachLeavesForeignProgram(t *testing.T) {
	veth := newVethNamespace(t)
	ifindex := veth.link.Attrs().Index
	foreign, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "other_xdp",
		Type:         ebpf.XDP,
		License:      "MIT",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, xdpPass, asm.DWord), asm.Return()},
	})
	must(t, err)
	defer foreign.Close()
	if err := netlink.LinkSetXdpFdWithFlags(veth.link, foreign.FD(), nl.XDP_FLAGS_DRV_MODE); err != nil {
		t.Fatalf("attach foreign program: %v", err)
	}

	prog, err := Attach(ifindex, ModeNative)
	if err == nil {
		prog.Close()
		t.Fatal("Attach succeeded over a foreign program")
	}
	if state := xdpState(t, ifindex); state.ProgId != programID(t, foreign) {
		t.Errorf("xdp %+v, want the foreign program still attached", state)
	}
}

// The attached program sees real frames: send from the veth peer and watch
// the counters.
func TestAttachedProgramCountsFrames(t *testing.T) {
	veth := newVethNamespace(t)
	prog := attach(t, veth.link.Attrs().Index, ModeNative)
	must(t, prog.SetServices([]Endpoint{endpoint(vip, dnsPort, udp)}))

	sock, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open packet socket: %v", err)
	}
	defer unix.Close(sock)
	peer := &unix.SockaddrLinklayer{Ifindex: veth.peer.Attrs().Index}
	vipFrame := frame(t, client, clientPort, vip, dnsPort, layers.IPProtocolUDP)
	copy(vipFrame, veth.link.Attrs().HardwareAddr)
	send := func() {
		if err := unix.Sendto(sock, vipFrame, 0, peer); err != nil {
			t.Fatalf("send from %s: %v", veth.peer.Attrs().Name, err)
		}
	}
	steered := func() uint64 {
		stats, err := prog.Stats()
		must(t, err)
		return stats.SteeredService
	}

	// Attaching native XDP resets the link: send until the first frame shows.
	deadline := time.Now().Add(5 * time.Second)
	for steered() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the attached program within 5s")
		}
		send()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let frames in flight land
	before, err := prog.Stats()
	must(t, err)
	const frames = 10
	for range frames {
		send()
	}
	var after Stats
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		after, err = prog.Stats()
		must(t, err)
		if after.SteeredService-before.SteeredService >= frames {
			break
		}
	}
	if got := after.SteeredService - before.SteeredService; got != frames {
		t.Errorf("steered %d of %d frames to the vip", got, frames)
	}
	if got := after.NoSocket - before.NoSocket; got != frames {
		t.Errorf("no-socket fallbacks %d, want %d (no socket registered)", got, frames)
	}
}
