package tunnel

import (
	"bytes"
	"encoding/binary"
	"testing"

	"fastlvs/header"
)

// TestEncapsulateGUE checks, for every inner and outer family, that the
// frame out is the link header, an outer IP header (valid checksum) to the
// real server, UDP from the flow's port to the GUE port (valid checksum over
// IPv6), a GUE version 0 header naming the inner protocol, and the client's
// packet untouched.
func TestEncapsulateGUE(t *testing.T) {
	for _, c := range encapCases {
		t.Run(c.name, func(t *testing.T) {
			frame := c.in.frame(t)
			chunk := place(frame)
			src, dst := as16(c.src), as16(c.dst)
			start, length := EncapsulateGUE(chunk, headroom, len(frame), c.l3Off, &src, &dst, 7, 50000, 6080)
			if want := headroom - GUEOverhead(&dst); start != want {
				t.Fatalf("start %d, want %d", start, want)
			}
			out := chunk[start : start+length]
			innerPkt := frame[c.l3Off : c.l3Off+InnerLength(frame[c.l3Off:])]
			if !bytes.Equal(out[:c.l3Off-2], frame[:c.l3Off-2]) {
				t.Fatal("link-layer header changed")
			}
			l3 := out[c.l3Off:]
			var udp []byte
			if header.Is4(&dst) {
				ip := header.IPv4(l3)
				if binary.BigEndian.Uint16(out[c.l3Off-2:]) != header.EtherTypeIPv4 || !ip.IsChecksumValid() ||
					ip.Protocol() != header.ProtocolUDP || int(ip.TotalLength()) != len(l3) || ip.DestinationAddress() != header.Unmap4(&dst) {
					t.Fatalf("outer IPv4 header wrong: %x", l3[:20])
				}
				udp = l3[20:]
				if binary.BigEndian.Uint16(udp[6:]) != 0 {
					t.Error("IPv4 outer UDP checksum is not 0")
				}
			} else {
				ip := header.IPv6(l3)
				if ip.NextHeader() != header.ProtocolUDP || int(ip.PayloadLength()) != len(l3)-40 || ip.DestinationAddress() != dst {
					t.Fatalf("outer IPv6 header wrong: %x", l3[:40])
				}
				udp = l3[40:]
				if header.Checksum(udp, header.PseudoHeaderChecksum(header.ProtocolUDP, src[:], dst[:], uint16(len(udp)))) != 0xffff {
					t.Error("IPv6 outer UDP checksum does not verify")
				}
			}
			u := header.UDP(udp)
			if u.SourcePort() != 50000 || u.DestinationPort() != 6080 || int(u.Length()) != len(udp) {
				t.Fatalf("outer UDP %x", udp[:8])
			}
			wantProto := byte(header.ProtocolIPIP)
			if innerPkt[0]>>4 == 6 {
				wantProto = header.ProtocolIPv6
			}
			if g := udp[8:12]; g[0] != 0 || g[1] != wantProto || g[2] != 0 || g[3] != 0 {
				t.Fatalf("GUE header %x, want 00 %02x 00 00", g, wantProto)
			}
			if !bytes.Equal(udp[12:], innerPkt) {
				t.Fatal("inner packet changed")
			}
		})
	}
}

func TestGUESourcePortInDynamicRange(t *testing.T) {
	for _, h := range []uint64{0, 1, 0x3fff, 0xffffffffffffffff} {
		if p := GUESourcePort(h); p < 49152 {
			t.Errorf("hash %x: port %d below the dynamic range", h, p)
		}
	}
	if GUESourcePort(1) == GUESourcePort(2) {
		t.Error("different flows share a port")
	}
}

func BenchmarkEncapsulateGUE(b *testing.B) {
	frame := encapCases[0].in.frame(b)
	chunk := place(frame)
	src, dst := as16("198.18.2.1"), as16("198.18.2.12")
	b.ReportAllocs()
	for i := range b.N {
		copy(chunk[headroom:], frame)
		EncapsulateGUE(chunk, headroom, len(frame), 14, &src, &dst, uint16(i), GUESourcePort(uint64(i)), 6080)
	}
}
