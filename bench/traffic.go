package bench

import (
	"fmt"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Traffic is what a generator sends: 64-byte UDP frames (60 bytes plus the
// FCS a wire would add) from Src to Dst:DstPort, in Flows distinct flows
// that differ by source port (FirstSrcPort, FirstSrcPort+1, ...).
type Traffic struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       net.IP
	DstPort        uint16
	Flows          int
}

// FirstSrcPort is the source port of flow 0.
const FirstSrcPort = 1024

// MaxFlows is the most flows one source address can carry.
const MaxFlows = 65535 - FirstSrcPort + 1

// frameLen is a minimum Ethernet frame without its FCS.
const frameLen = 60

func (t Traffic) validate() error {
	if t.Flows < 1 || t.Flows > MaxFlows {
		return fmt.Errorf("traffic: %d flows (1..%d)", t.Flows, MaxFlows)
	}
	if t.Src.To4() == nil || t.Dst.To4() == nil {
		return fmt.Errorf("traffic: %v -> %v: IPv4 only", t.Src, t.Dst)
	}
	return nil
}

// Templates builds one frame per flow, checksums complete, ready to copy into
// a transmit buffer as they are.
func (t Traffic) Templates() ([][]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	frames := make([][]byte, t.Flows)
	eth := &layers.Ethernet{SrcMAC: t.SrcMAC, DstMAC: t.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: t.Src.To4(), DstIP: t.Dst.To4()}
	payload := gopacket.Payload(make([]byte, frameLen-14-20-8))
	for i := range frames {
		udp := &layers.UDP{SrcPort: layers.UDPPort(FirstSrcPort + i), DstPort: layers.UDPPort(t.DstPort)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, fmt.Errorf("build frame template: %w", err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, payload); err != nil {
			return nil, fmt.Errorf("build frame template: %w", err)
		}
		frames[i] = buf.Bytes()
	}
	return frames, nil
}

// Generator sends Traffic from the generator host until it has sent
// maxPackets or maxDuration has passed, whichever comes first.
type Generator interface {
	Name() string
	Start(t Traffic, maxPackets uint64, maxDuration time.Duration) (Job, error)
}

// Job is a running generator.
type Job interface {
	// Stop ends the job early; Wait still reports what it sent.
	Stop()
	// Wait blocks until the job ends and returns how many frames it sent.
	Wait() (sent uint64, err error)
}
