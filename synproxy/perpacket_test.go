package synproxy

import (
	"testing"

	"fastlvs/header"
)

// linuxSYN returns an IPv4 or IPv6 SYN as Linux sends it, in a buffer with
// room to grow.
func linuxSYN(tb testing.TB, ipv6 bool) []byte {
	src, dst := client4, vip4
	if ipv6 {
		src, dst = client6, vip6
	}
	return buildTCP(tb, tcpSpec{src: src, dst: dst, sport: 45000, dport: 80, seq: 1000, syn: true, window: 64240,
		options: synOptions(1460, 7, true, true, 12345)})
}

func TestPerPacketAllocs(t *testing.T) {
	s := NewSecrets(testKey(1))
	s.Rotate(testKey(2), testNow)
	for _, ipv6 := range []bool{false, true} {
		syn := linuxSYN(t, ipv6)
		orig := append([]byte(nil), syn...)
		var p header.Packet
		var n int
		if a := testing.AllocsPerRun(200, func() {
			copy(syn[:cap(syn)], orig)
			p.Parse(syn[:len(orig)])
			n, _ = AnswerSYN(&p, &s, testNow, &testConfig)
		}); a != 0 {
			t.Errorf("AnswerSYN (v6 %v): %v allocations", ipv6, a)
		}
		ack := clientACK(t, decode(t, syn[:n]), 12346, 500, nil)
		var hs Handshake
		if a := testing.AllocsPerRun(200, func() {
			p.Parse(ack)
			hs, _ = CheckACK(&p, &s, testNow)
		}); a != 0 {
			t.Errorf("CheckACK (v6 %v): %v allocations", ipv6, a)
		}
		f := Flow{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
		if a := testing.AllocsPerRun(200, func() {
			c := s.Cookie(&f, 1, 2, testNow)
			s.CheckCookie(&f, 1, c^1, testNow) // invalid: tries both secrets
		}); a != 0 {
			t.Errorf("Cookie/CheckCookie (v6 %v): %v allocations", ipv6, a)
		}
		buf := make([]byte, 128)
		path := ServerPath{Src: p.Src, Dst: p.Dst}
		if a := testing.AllocsPerRun(200, func() { BuildServerSYN(buf, &hs, &path, &testConfig) }); a != 0 {
			t.Errorf("BuildServerSYN (v6 %v): %v allocations", ipv6, a)
		}
		ssynack := buildTCP(t, tcpSpec{src: client4, dst: vip4, syn: true, ack_: true, ack: hs.ClientISN + 1,
			options: synOptions(1460, 7, true, true, 5)})
		sorig := append([]byte(nil), ssynack...)
		if a := testing.AllocsPerRun(200, func() {
			copy(ssynack[:cap(ssynack)], sorig)
			p.Parse(ssynack[:len(sorig)])
			ServerSYNACK(&p, &hs, &testConfig)
		}); a != 0 {
			t.Errorf("ServerSYNACK (v6 %v): %v allocations", ipv6, a)
		}
	}
}

// FuzzAnswerSYN feeds arbitrary frames to every SYN-proxy step: none may
// panic, and a reply it writes is a well-formed frame with valid checksums.
func FuzzAnswerSYN(f *testing.F) {
	f.Add(linuxSYN(f, false), uint8(64))
	f.Add(linuxSYN(f, true), uint8(0))
	f.Add(buildTCP(f, tcpSpec{src: client4, dst: vip4, syn: true, vlan: 5, ipOptions: true,
		options: synOptions(0, 14, false, true, 1)}), uint8(8))
	f.Add(buildTCP(f, tcpSpec{src: client4, dst: vip4, syn: true, ack_: true, ack: 77,
		options: synOptions(1460, 7, true, true, 1)}), uint8(100))
	s := NewSecrets(testKey(1))
	s.Rotate(testKey(2), testNow)
	f.Fuzz(func(t *testing.T, frame []byte, room uint8) {
		buf := make([]byte, len(frame), len(frame)+int(room))
		copy(buf, frame)
		var p header.Packet
		if p.Parse(buf) != header.ParseOK || p.Proto != header.ProtocolTCP {
			return
		}
		hs, r := CheckACK(&p, &s, testNow)
		if r != OK {
			// Let the frame pass ServerSYNACK's ACK check so the fuzzer
			// reaches its option parsing and rewrite.
			hs = Handshake{ClientISN: p.TCP().AckNumber() - 1, Timestamps: true, WScaleOK: true, WScale: 9, SACKOK: true}
		}
		BuildServerSYN(make([]byte, int(room)), &hs, &ServerPath{Src: p.Src, Dst: p.Dst}, &testConfig)
		copyBuf := append(make([]byte, 0, cap(buf)), buf...)
		var q header.Packet
		q.Parse(copyBuf)
		if _, n, r := ServerSYNACK(&q, &hs, &testConfig); r == OK {
			checkReply(t, copyBuf[:n])
		}
		if n, r := AnswerSYN(&p, &s, testNow, &testConfig); r == OK {
			checkReply(t, buf[:n])
		}
	})
}

// checkReply fails unless frame parses as TCP with valid checksums.
func checkReply(t *testing.T, frame []byte) {
	t.Helper()
	var p header.Packet
	if r := p.Parse(frame); r != header.ParseOK || p.Proto != header.ProtocolTCP {
		t.Fatalf("reply does not parse: %v", r)
	}
	var pseudo uint16
	if p.IsIPv6 {
		pseudo = header.PseudoHeaderChecksum(header.ProtocolTCP, p.Src[:], p.Dst[:], uint16(p.L4Len))
	} else {
		if !p.IPv4().IsChecksumValid() {
			t.Fatal("reply IPv4 checksum invalid")
		}
		pseudo = header.PseudoHeaderChecksum(header.ProtocolTCP, p.Src[12:], p.Dst[12:], uint16(p.L4Len))
	}
	if tcp := p.TCP(); tcp.Checksum() != tcp.CalculateChecksum(pseudo) {
		t.Fatal("reply TCP checksum invalid")
	}
}

func BenchmarkCookie(b *testing.B) {
	s := NewSecrets(testKey(1))
	for _, fam := range []struct {
		name string
		f    Flow
	}{{"ipv4", testFlows()[0]}, {"ipv6", testFlows()[1]}} {
		f := fam.f
		b.Run("encode/"+fam.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.SrcPort++
				s.Cookie(&f, 1, 3, testNow)
			}
		})
		c := s.Cookie(&f, 1, 3, testNow)
		b.Run("check/"+fam.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.CheckCookie(&f, 1, c, testNow); !ok {
					b.Fatal("invalid")
				}
			}
		})
		rotated := s
		rotated.Rotate(testKey(2), testNow)
		b.Run("check-invalid-both-secrets/"+fam.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rotated.CheckCookie(&f, 1, c^0x10000, testNow)
			}
		})
	}
}

// BenchmarkAnswerSYN is the cost of one cookie SYN/ACK: parse, answer.
func BenchmarkAnswerSYN(b *testing.B) {
	s := NewSecrets(testKey(1))
	for _, ipv6 := range []bool{false, true} {
		syn := linuxSYN(b, ipv6)
		orig := append([]byte(nil), syn...)
		b.Run(map[bool]string{false: "ipv4", true: "ipv6"}[ipv6], func(b *testing.B) {
			var p header.Packet
			b.ReportAllocs()
			for b.Loop() {
				copy(syn, orig)
				p.Parse(syn[:len(orig)])
				if _, r := AnswerSYN(&p, &s, testNow, &testConfig); r != OK {
					b.Fatal(r)
				}
			}
		})
	}
}

// BenchmarkCheckACK is the cost of validating a client's cookie ACK: parse,
// check.
func BenchmarkCheckACK(b *testing.B) {
	s := NewSecrets(testKey(1))
	for _, ipv6 := range []bool{false, true} {
		syn := linuxSYN(b, ipv6)
		n, _ := AnswerSYN(parse(b, syn), &s, testNow, &testConfig)
		ack := clientACK(b, decode(b, syn[:n]), 12346, 500, nil)
		b.Run(map[bool]string{false: "ipv4", true: "ipv6"}[ipv6], func(b *testing.B) {
			var p header.Packet
			b.ReportAllocs()
			for b.Loop() {
				p.Parse(ack)
				if _, r := CheckACK(&p, &s, testNow); r != OK {
					b.Fatal(r)
				}
			}
		})
	}
}
