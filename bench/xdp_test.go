package bench

import (
	"bytes"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func testTraffic(flows int) Traffic {
	return Traffic{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: net.ParseIP(GenAddr), Dst: net.ParseIP(VIP), DstPort: ServicePort, Flows: flows,
	}
}

// TestTemplates checks the generator's frames: 60 bytes, one source port
// per flow, valid IPv4 and UDP checksums (conntrack drops bad UDP checksums,
// so nftables DNAT would not see the flows).
func TestTemplates(t *testing.T) {
	frames, err := testTraffic(3).Templates()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if len(f) != frameLen {
			t.Errorf("frame %d: %d bytes, want %d", i, len(f), frameLen)
		}
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			t.Fatalf("frame %d does not decode: %v", i, pkt)
		}
		if int(udp.SrcPort) != FirstSrcPort+i || udp.DstPort != ServicePort || !ip.DstIP.Equal(net.ParseIP(VIP)) {
			t.Errorf("frame %d: %v:%d -> %v:%d", i, ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort)
		}
		wantIP, wantUDP := ip.Checksum, udp.Checksum
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			ip, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatal(err)
		}
		again := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if again.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Checksum != wantIP || again.Layer(layers.LayerTypeUDP).(*layers.UDP).Checksum != wantUDP {
			t.Errorf("frame %d: checksums differ from a recomputation", i)
		}
	}
	if _, err := testTraffic(MaxFlows + 1).Templates(); err == nil {
		t.Error("more flows than source ports accepted")
	}
}

// runXDP runs insns once on frame with BPF_PROG_TEST_RUN and returns the
// verdict and the frame as the program left it.
func runXDP(t *testing.T, insns asm.Instructions, frame []byte) (uint32, []byte) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	verdict, err := prog.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	return verdict, opts.DataOut
}

func TestCountDropProgram(t *testing.T) {
	counter, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	sink := &Sink{counter: counter}
	frames, _ := testTraffic(1).Templates()
	for range 3 {
		if verdict, _ := runXDP(t, countDropInstructions(counter.FD()), frames[0]); verdict != xdpDrop {
			t.Fatalf("verdict %d, want XDP_DROP", verdict)
		}
	}
	if n, err := sink.Count(); err != nil || n != 3 {
		t.Errorf("count %d (%v), want 3", n, err)
	}
}

func TestRedirectProgram(t *testing.T) {
	dst := net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	src := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	frames, _ := testTraffic(1).Templates()
	in := append([]byte(nil), frames[0]...)
	verdict, out := runXDP(t, redirectInstructions(dst, src, 1), in)
	const xdpRedirect = 4
	if verdict != xdpRedirect {
		t.Fatalf("verdict %d, want XDP_REDIRECT", verdict)
	}
	if !bytes.Equal(out[0:6], dst) || !bytes.Equal(out[6:12], src) || !bytes.Equal(out[12:], frames[0][12:]) {
		t.Errorf("frame\n%x\nwant MACs %v %v and the rest of\n%x", out, dst, src, frames[0])
	}
	arp := append([]byte(nil), frames[0]...)
	arp[12], arp[13] = 0x08, 0x06
	if verdict, _ := runXDP(t, redirectInstructions(dst, src, 1), arp); verdict != xdpPass {
		t.Errorf("non-IPv4 verdict %d, want XDP_PASS", verdict)
	}
}
