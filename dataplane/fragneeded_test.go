package dataplane

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// clearDF clears an IPv4 frame's don't-fragment bit, fixing the checksum.
func clearDF(t *testing.T, frame []byte) []byte { return setDF(t, frame, false) }

// setDF sets or clears an IPv4 frame's don't-fragment bit, fixing the
// checksum.
func setDF(t *testing.T, frame []byte, df bool) []byte {
	t.Helper()
	var p header.Packet
	if p.Parse(frame) != header.ParseOK {
		t.Fatal("setDF: frame does not parse")
	}
	ip := p.IPv4()
	ip[6] &^= 0x40
	if df {
		ip[6] |= 0x40
	}
	ip.SetChecksum(ip.CalculateChecksum())
	return frame
}

// TestTunnelAnswersFragmentationNeeded: a DF packet too large to
// encapsulate comes back to its client as the ICMP message IPVS sends:
// destination unreachable / fragmentation needed, from the VIP, with the
// MTU left for the inner packet and the offending header quoted.
func TestTunnelAnswersFragmentationNeeded(t *testing.T) {
	d := newTunnelDataplane(t, []int{1500, 1400})
	w := d.Workers[0]
	big := tunUDP.with(func(p *pkt) { p.payload = make([]byte, 1380-28+100); p.sport = 41000 })
	in := big.frame(t)
	v, out := processInChunk(w, in, 0, tunnelHeadroom)
	if v.action != actionTransmit || v.port != 0 {
		t.Fatalf("verdict %+v, want the answer sent back on port 0 (drops %v)", v, dropCounts(w))
	}
	w.publish()
	if w.Stats.Count(CountFragNeededSent) != 1 {
		t.Fatalf("FragNeededSent %d, want 1", w.Stats.Count(CountFragNeededSent))
	}

	pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if eth == nil || ip == nil || icmp == nil {
		t.Fatalf("not an Ethernet/IPv4/ICMP frame: %v", pkt)
	}
	if !bytes.Equal(eth.DstMAC, clientMAC[:]) || !bytes.Equal(eth.SrcMAC, portMAC0[:]) {
		t.Errorf("MACs %s -> %s, want the client's from port 0", eth.SrcMAC, eth.DstMAC)
	}
	if ip.SrcIP.String() != "198.18.0.30" || ip.DstIP.String() != "198.18.1.5" {
		t.Errorf("ICMP %s -> %s, want VIP -> client", ip.SrcIP, ip.DstIP)
	}
	if icmp.TypeCode != layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded) {
		t.Errorf("ICMP type/code %v", icmp.TypeCode)
	}
	if mtu := icmp.Seq; mtu != 1380 {
		t.Errorf("next-hop MTU %d, want 1380 (1400 less the 20-byte outer header)", mtu)
	}
	// The quoted datagram is the offending IP header and 8 bytes of payload.
	var orig header.Packet
	orig.Parse(in)
	quoted := in[orig.L3Off : orig.L3Off+orig.IPv4().HeaderLength()+8]
	if !bytes.Equal(icmp.Payload, quoted) {
		t.Errorf("quoted datagram\n got %x\nwant %x", icmp.Payload, quoted)
	}
	var parsed header.Packet
	if parsed.Parse(out) != header.ParseOK || !parsed.IPv4().IsChecksumValid() {
		t.Fatal("IPv4 header checksum invalid")
	}
	if header.Checksum(parsed.L4(), 0) != 0xffff {
		t.Error("ICMP checksum invalid")
	}
	chunk := make([]byte, tunnelHeadroom+handoffFrameMax)
	if a := testing.AllocsPerRun(100, func() {
		copy(chunk[tunnelHeadroom:], in)
		w.processIn(chunk, tunnelHeadroom, len(in), 0)
	}); a != 0 {
		t.Errorf("answering allocates %v times per packet", a)
	}
}
