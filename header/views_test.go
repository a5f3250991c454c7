package header

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func serialize(tb testing.TB, l gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := l.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestIPv4EncodeMatchesGopacket(t *testing.T) {
	for _, f := range []IPv4Fields{
		{TOS: 0xb8, TotalLength: 1500, ID: 0xabcd, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: ProtocolIPIP,
			Src: [4]byte{198, 18, 3, 1}, Dst: [4]byte{198, 18, 2, 2}},
		{TotalLength: 576, ID: 1, Flags: IPv4FlagMoreFragments, FragmentOffset: 1480, TTL: 1, Protocol: ProtocolUDP,
			Src: [4]byte{198, 18, 1, 7}, Dst: [4]byte{198, 18, 0, 10}},
	} {
		ip := IPv4(make([]byte, IPv4MinimumSize))
		ip.Encode(&f)
		want := serialize(t, &layers.IPv4{
			Version: 4, IHL: 5, TOS: f.TOS, Length: f.TotalLength, Id: f.ID,
			Flags: layers.IPv4Flag(f.Flags), FragOffset: f.FragmentOffset / 8, TTL: f.TTL,
			Protocol: layers.IPProtocol(f.Protocol), SrcIP: net.IP(f.Src[:]), DstIP: net.IP(f.Dst[:]),
		})
		if !bytes.Equal(ip, want) {
			t.Errorf("Encode(%+v)\n got %x\nwant %x", f, []byte(ip), want)
		}
		if !ip.IsChecksumValid() || ip.Checksum() != ip.CalculateChecksum() {
			t.Errorf("Encode(%+v): checksum not valid", f)
		}
		got := IPv4Fields{
			TOS: ip.TOS(), TotalLength: ip.TotalLength(), ID: ip.ID(), Flags: ip.Flags(), FragmentOffset: ip.FragmentOffset(),
			TTL: ip.TTL(), Protocol: ip.Protocol(), Src: ip.SourceAddress(), Dst: ip.DestinationAddress(),
		}
		if got != f {
			t.Errorf("accessors read %+v, encoded %+v", got, f)
		}
		if ip.IsFragment() != (f.Flags&IPv4FlagMoreFragments != 0 || f.FragmentOffset != 0) ||
			ip.MoreFragments() != (f.Flags&IPv4FlagMoreFragments != 0) || ip.DontFragment() != (f.Flags&IPv4FlagDontFragment != 0) {
			t.Errorf("%+v: fragment accessors wrong", f)
		}
	}
}

func TestIPv6EncodeMatchesGopacket(t *testing.T) {
	f := IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, PayloadLength: 1460, NextHeader: ProtocolIPv6, HopLimit: 64,
		Src: mustAddr("2001:2::3:1").As16(), Dst: mustAddr("2001:2::2:2").As16()}
	ip := IPv6(make([]byte, IPv6MinimumSize))
	ip.Encode(&f)
	want := serialize(t, &layers.IPv6{
		Version: 6, TrafficClass: f.TrafficClass, FlowLabel: f.FlowLabel, Length: f.PayloadLength,
		NextHeader: layers.IPProtocol(f.NextHeader), HopLimit: f.HopLimit, SrcIP: f.Src[:], DstIP: f.Dst[:],
	})
	if !bytes.Equal(ip, want) {
		t.Errorf("Encode\n got %x\nwant %x", []byte(ip), want)
	}
	got := IPv6Fields{ip.TrafficClass(), ip.FlowLabel(), ip.PayloadLength(), ip.NextHeader(), ip.HopLimit(), ip.SourceAddress(), ip.DestinationAddress()}
	if got != f {
		t.Errorf("accessors read %+v, encoded %+v", got, f)
	}
}

func TestIPIsValid(t *testing.T) {
	ip := IPv4(make([]byte, 60))
	ip.Encode(&IPv4Fields{TotalLength: 40, TTL: 1})
	for _, tc := range []struct {
		name    string
		ip      IPv4
		pktSize int
		want    bool
	}{
		{"exact", ip[:40], 40, true},
		{"padding after total length", ip, 60, true},
		{"total length past packet", ip[:39], 39, false},
		{"pktSize past slice", ip[:40], 41, false},
		{"shorter than a header", ip[:19], 19, false},
	} {
		if got := tc.ip.IsValid(tc.pktSize); got != tc.want {
			t.Errorf("%s: IsValid = %v, want %v", tc.name, got, tc.want)
		}
	}
	ip6 := IPv6(make([]byte, 50))
	ip6.Encode(&IPv6Fields{PayloadLength: 8})
	if !ip6.IsValid(48) || ip6.IsValid(47) || ip6.IsValid(51) || len(ip6.Payload()) != 8 {
		t.Error("IPv6.IsValid does not bound the payload length")
	}
}

func TestTCPMSS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options []byte
		want    uint16
		ok      bool
	}{
		{"mss first", []byte{2, 4, 0x05, 0xb4}, 1460, true},
		{"after nops and sack-permitted", []byte{1, 1, 4, 2, 2, 4, 0x05, 0x78, 0, 0, 0, 0}, 1400, true},
		{"after timestamps at odd offset", []byte{1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 0x02, 0x18, 0}, 536, true},
		{"none", nil, 0, false},
		{"end of list first", []byte{0, 0, 2, 4, 0x05, 0xb4, 0, 0}, 0, false},
		{"zero length option", []byte{8, 0, 2, 4, 0x05, 0xb4, 0, 0}, 0, false},
		{"mss length 3", []byte{2, 3, 0x05, 0}, 0, false},
		{"option runs past header", []byte{1, 1, 1, 2}, 0, false},
		{"kind without length", []byte{1, 1, 1, 8}, 0, false},
	} {
		tcp := TCP(make([]byte, TCPMinimumSize+len(tc.options)+5))
		tcp[tcpDataOffset] = byte((TCPMinimumSize+len(tc.options))/4) << 4
		copy(tcp[TCPMinimumSize:], tc.options)
		copy(tcp[TCPMinimumSize+len(tc.options):], []byte{2, 4, 9, 9, 9}) // payload that looks like MSS
		if !tcp.IsValid(len(tcp)) {
			t.Fatalf("%s: test segment invalid", tc.name)
		}
		got, ok := tcp.MSS()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: MSS = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
		if ok := tcp.SetMSSWithChecksumUpdate(1200); ok != tc.ok {
			t.Errorf("%s: SetMSSWithChecksumUpdate = %v", tc.name, ok)
		}
		if got, _ := tcp.MSS(); tc.ok && got != 1200 {
			t.Errorf("%s: MSS after set = %d", tc.name, got)
		}
	}
}

func TestTCPAccessorsMatchGopacket(t *testing.T) {
	frame := buildFrame(t, frameSpec{src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"), proto: ProtocolTCP,
		sport: 40000, dport: 80, ttl: 64, tcpFlags: TCPFlagSyn | TCPFlagAck | TCPFlagUrg, mss: 1460, payload: []byte("x")})
	var p Packet
	if r := p.Parse(frame); r != ParseOK {
		t.Fatal(r)
	}
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	want := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	tcp := p.TCP()
	if tcp.SequenceNumber() != want.Seq || tcp.AckNumber() != want.Ack || tcp.WindowSize() != want.Window ||
		tcp.Checksum() != want.Checksum || tcp.DataOffset() != int(want.DataOffset)*4 || tcp.UrgentPointer() != want.Urgent {
		t.Errorf("TCP accessors disagree with gopacket %+v", want)
	}
	if p.TCPFlags != TCPFlagSyn|TCPFlagAck|TCPFlagUrg {
		t.Errorf("flags %#x", p.TCPFlags)
	}
	pseudo := PseudoHeaderChecksum(ProtocolTCP, frame[26:30], frame[30:34], uint16(p.L4Len))
	if tcp.CalculateChecksum(pseudo) != tcp.Checksum() {
		t.Error("CalculateChecksum disagrees with gopacket's checksum")
	}
	ip := p.IPv4()
	if !ip.IsChecksumValid() || ip.CalculateChecksum() != ip.Checksum() {
		t.Error("IPv4 checksum from gopacket not valid")
	}
	eth := p.Ethernet()
	if eth.SourceAddress().String() != testSrcMAC.String() || eth.DestinationAddress().String() != testDstMAC.String() || eth.Type() != EtherTypeIPv4 {
		t.Errorf("Ethernet %v -> %v type %#x", eth.SourceAddress(), eth.DestinationAddress(), eth.Type())
	}
	eth.SetDestinationAddress(MAC{0xaa, 0xbb, 0xcc, 0, 1, 0x0f})
	eth.SetSourceAddress(MAC(testDstMAC))
	eth.SetType(EtherTypeIPv6)
	if got := eth.DestinationAddress().String(); got != "aa:bb:cc:00:01:0f" || eth.SourceAddress() != MAC(testDstMAC) || eth.Type() != EtherTypeIPv6 {
		t.Errorf("Ethernet setters: %s %v %#x", got, eth.SourceAddress(), eth.Type())
	}
}

func TestVLAN(t *testing.T) {
	frame := buildFrame(t, frameSpec{vlans: []uint16{4001, 7}, src: mustAddr("198.18.1.7"), dst: mustAddr("198.18.0.10"),
		proto: ProtocolUDP, sport: 1, dport: 2, ttl: 9})
	outer, inner := VLAN(frame[14:]), VLAN(frame[18:])
	if Ethernet(frame).Type() != EtherTypeQinQ || outer.ID() != 4001 || outer.Type() != EtherTypeVLAN || inner.ID() != 7 || inner.Type() != EtherTypeIPv4 {
		t.Errorf("tags: %#x %d %#x %d %#x", Ethernet(frame).Type(), outer.ID(), outer.Type(), inner.ID(), inner.Type())
	}
	frame[14] |= 5 << 5
	if outer.Priority() != 5 || outer.ID() != 4001 {
		t.Errorf("priority %d id %d", outer.Priority(), outer.ID())
	}
}

func TestICMPIsError(t *testing.T) {
	v4 := ICMPv4(make([]byte, 8))
	for typ, want := range map[uint8]bool{ICMPv4EchoReply: false, ICMPv4EchoRequest: false,
		ICMPv4DestinationUnreachable: true, ICMPv4SourceQuench: true, ICMPv4TimeExceeded: true, ICMPv4ParameterProblem: true, 5: false} {
		v4[0] = typ
		if v4.IsError() != want {
			t.Errorf("ICMPv4 type %d: IsError = %v", typ, !want)
		}
	}
	v6 := ICMPv6(make([]byte, 8))
	for typ, want := range map[uint8]bool{ICMPv6EchoRequest: false, ICMPv6EchoReply: false, 135: false,
		ICMPv6DestinationUnreachable: true, ICMPv6PacketTooBig: true, ICMPv6TimeExceeded: true, ICMPv6ParameterProblem: true} {
		v6[0] = typ
		if v6.IsError() != want {
			t.Errorf("ICMPv6 type %d: IsError = %v", typ, !want)
		}
	}
	ptb := ICMPv6([]byte{ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 0x05, 0xdc})
	frag := ICMPv4([]byte{ICMPv4DestinationUnreachable, ICMPv4CodeFragmentationNeeded, 0, 0, 0, 0, 0x05, 0x78})
	if ptb.MTU() != 1500 || frag.MTU() != 1400 || frag.Code() != ICMPv4CodeFragmentationNeeded {
		t.Errorf("MTU %d %d", ptb.MTU(), frag.MTU())
	}
	echo := ICMPv4([]byte{ICMPv4EchoRequest, 0, 0, 0, 0, 1, 0, 2, 'h', 'i'})
	echo.SetChecksum(echo.CalculateChecksum())
	echo.SetIdentWithChecksumUpdate(0xbeef)
	if echo.Checksum() != echo.CalculateChecksum() || echo.Ident() != 0xbeef || echo.Sequence() != 2 || string(echo.Payload()) != "hi" {
		t.Errorf("ICMPv4 echo after ident rewrite: %x", []byte(echo))
	}
}

func TestAddrHelpers(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.10")
	a := As16From4(v4.As4())
	if a != v4.As16() || !Is4(&a) || Unmap4(&a) != v4.As4() {
		t.Errorf("As16From4(%v) = %v", v4, a)
	}
	b := [16]byte{0: 7, 9: 7} // putAs16From4 overwrites every byte
	four := v4.As4()
	if putAs16From4(&b, four[:]); b != a {
		t.Errorf("putAs16From4(%v) = %v, want %v", v4, b, a)
	}
	var c [16]byte
	if CopyAddr(&c, &b); c != b {
		t.Errorf("CopyAddr(%v) = %v", b, c)
	}
	v6 := netip.MustParseAddr("2001:2::10").As16()
	if Is4(&v6) {
		t.Error("Is4(2001:2::10) = true")
	}
	mapped := netip.MustParseAddr("::ffff:198.18.0.10").As16()
	if !Is4(&mapped) {
		t.Error("Is4(::ffff:198.18.0.10) = false")
	}
}
