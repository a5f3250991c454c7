package header

import (
	"encoding/binary"
	"testing"
)

// fragment4 is an Ethernet+IPv4 frame of a fragment at offset off (bytes)
// carrying payload.
func fragment4(proto uint8, off uint16, more bool, payload []byte) []byte {
	f := make([]byte, EthernetMinimumSize+IPv4MinimumSize, 100)
	Ethernet(f).SetType(EtherTypeIPv4)
	ip := IPv4(f[EthernetMinimumSize:])
	flags := uint8(0)
	if more {
		flags = IPv4FlagMoreFragments
	}
	ip.Encode(&IPv4Fields{TotalLength: uint16(IPv4MinimumSize + len(payload)), ID: 0xabcd, Flags: flags,
		FragmentOffset: off, TTL: 64, Protocol: proto})
	return append(f, payload...)
}

// fragment6 is the same for IPv6, with its fragment header.
func fragment6(proto uint8, off uint16, more bool, payload []byte) []byte {
	f := make([]byte, EthernetMinimumSize+IPv6MinimumSize, 100)
	Ethernet(f).SetType(EtherTypeIPv6)
	IPv6(f[EthernetMinimumSize:]).Encode(&IPv6Fields{PayloadLength: uint16(8 + len(payload)),
		NextHeader: IPv6FragmentHeader, HopLimit: 64})
	fh := make([]byte, 8)
	fh[0] = proto
	m := off
	if more {
		m |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], m)
	binary.BigEndian.PutUint32(fh[4:], 0x89abcdef)
	return append(append(f, fh...), payload...)
}

func TestParseFragmentHeader(t *testing.T) {
	udp := make([]byte, 16)
	binary.BigEndian.PutUint16(udp[0:], 1111)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], 4008) // the whole datagram's length
	tcp := make([]byte, 24)
	binary.BigEndian.PutUint16(tcp[0:], 2222)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12], tcp[13] = 5<<4, TCPFlagSyn
	for _, tc := range []struct {
		name    string
		frame   []byte
		want    ParseResult
		id      uint32
		first   bool
		sport   uint16
		l4Shift int
	}{
		{"v4 first udp", fragment4(ProtocolUDP, 0, true, udp), ParseOK, 0xabcd, true, 1111, 0},
		{"v4 later udp", fragment4(ProtocolUDP, 1480, false, udp), ParseOK, 0xabcd, false, 0, 0},
		{"v4 first tcp", fragment4(ProtocolTCP, 0, true, tcp), ParseOK, 0xabcd, true, 2222, 0},
		{"v4 first tcp cut", fragment4(ProtocolTCP, 0, true, tcp[:16]), ParseBadTCP, 0, true, 0, 0},
		{"v4 first udp cut", fragment4(ProtocolUDP, 0, true, udp[:4]), ParseBadUDP, 0, true, 0, 0},
		{"v4 icmp", fragment4(ProtocolICMPv4, 8, false, udp), ParseUnsupportedL4, 0, false, 0, 0},
		{"v6 first udp", fragment6(ProtocolUDP, 0, true, udp), ParseOK, 0x89abcdef, true, 1111, 8},
		{"v6 later udp", fragment6(ProtocolUDP, 1232, true, udp), ParseOK, 0x89abcdef, false, 0, 8},
		{"v6 nested extension", fragment6(60, 0, true, udp), ParseUnsupportedL4, 0, true, 0, 8},
		{"v6 no room", fragment6(ProtocolUDP, 0, true, nil)[:EthernetMinimumSize+IPv6MinimumSize+4], ParseTooShort, 0, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == ParseTooShort { // payload length says 8, frame has 4
				header := IPv6(tc.frame[EthernetMinimumSize:])
				header.SetPayloadLength(4)
			}
			var p Packet
			if r := p.Parse(tc.frame); r != ParseFragment {
				t.Fatalf("Parse: %v", r)
			}
			l4 := p.L4Off
			f, r := p.ParseFragmentHeader()
			if r != tc.want {
				t.Fatalf("ParseFragmentHeader: %v, want %v", r, tc.want)
			}
			if r != ParseOK {
				return
			}
			if f.ID != tc.id || f.First() != tc.first || p.SrcPort != tc.sport || p.L4Off != l4+tc.l4Shift {
				t.Errorf("got %+v ports %d L4Off %d", f, p.SrcPort, p.L4Off-l4)
			}
		})
	}
}
