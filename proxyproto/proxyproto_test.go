package proxyproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func addrs(src, dst string, sport, dport uint16) *Addrs {
	return &Addrs{Src: netip.MustParseAddr(src).As16(), Dst: netip.MustParseAddr(dst).As16(), SrcPort: sport, DstPort: dport}
}

func TestEncodeV1(t *testing.T) {
	for _, tc := range []struct {
		a    *Addrs
		want string
	}{
		{addrs("198.18.1.2", "198.18.0.10", 40000, 80), "PROXY TCP4 198.18.1.2 198.18.0.10 40000 80\r\n"},
		{addrs("255.255.255.255", "255.255.255.255", 65535, 65535), "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"},
		{addrs("0.0.0.0", "0.0.0.0", 0, 0), "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"},
		{addrs("2001:2::1", "2001:2:0:1::10", 1, 443), "PROXY TCP6 2001:2::1 2001:2:0:1::10 1 443\r\n"},
		{addrs("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535),
			"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"},
	} {
		buf := make([]byte, MaxLen(1, tc.a.IPv4()))
		n := EncodeV1(buf, tc.a)
		if got := string(buf[:n]); got != tc.want {
			t.Errorf("EncodeV1 = %q, want %q", got, tc.want)
		}
		if n := EncodeV1(buf[:len(buf)-1], tc.a); n != 0 {
			t.Errorf("EncodeV1 into a short buffer wrote %d bytes", n)
		}
	}
	if len("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n") != MaxV1IPv4 {
		t.Fatal("MaxV1IPv4 is not the longest IPv4 line")
	}
}

func TestEncodeV2(t *testing.T) {
	sig := "\r\n\r\n\x00\r\nQUIT\n"
	for _, tc := range []struct {
		a    *Addrs
		tr   Transport
		want string
	}{
		{addrs("198.18.1.2", "198.18.0.10", 40000, 80), TCP,
			sig + "\x21\x11\x00\x17" + "\xc6\x12\x01\x02" + "\xc6\x12\x00\x0a" + "\x9c\x40\x00\x50" +
				"\x05\x00\x08" + "\x01\x02\x03\x04\x05\x06\x07\x08"},
		{addrs("198.18.1.2", "198.18.0.10", 53000, 53), UDP,
			sig + "\x21\x12\x00\x17" + "\xc6\x12\x01\x02" + "\xc6\x12\x00\x0a" + "\xcf\x08\x00\x35" +
				"\x05\x00\x08" + "\x01\x02\x03\x04\x05\x06\x07\x08"},
		{addrs("2001:2::1", "2001:2::10", 1, 443), TCP,
			sig + "\x21\x21\x00\x2f" + "\x20\x01\x00\x02" + strings.Repeat("\x00", 11) + "\x01" +
				"\x20\x01\x00\x02" + strings.Repeat("\x00", 11) + "\x10" + "\x00\x01\x01\xbb" +
				"\x05\x00\x08" + "\x01\x02\x03\x04\x05\x06\x07\x08"},
	} {
		buf := make([]byte, 300)
		n := EncodeV2(buf, tc.a, tc.tr, 0x0102030405060708)
		if got := string(buf[:n]); got != tc.want {
			t.Errorf("EncodeV2 = % x\nwant        % x", got, tc.want)
		}
		if n != MaxLen(2, tc.a.IPv4()) {
			t.Errorf("EncodeV2 wrote %d bytes, MaxLen says %d", n, MaxLen(2, tc.a.IPv4()))
		}
		if n := EncodeV2(buf[:n-1], tc.a, tc.tr, 1); n != 0 {
			t.Errorf("EncodeV2 into a short buffer wrote %d bytes", n)
		}
	}
}

func TestEncodeAllocatesNothing(t *testing.T) {
	a4, a6 := addrs("198.18.1.2", "198.18.0.10", 40000, 80), addrs("2001:2::1", "2001:2::10", 1, 443)
	buf := make([]byte, 128)
	if n := testing.AllocsPerRun(100, func() {
		EncodeV1(buf, a4)
		EncodeV1(buf, a6)
		EncodeV2(buf, a4, TCP, 7)
		EncodeV2(buf, a6, UDP, 7)
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// parseV1 is a plain reference reader of a version 1 line.
func parseV1(line string) (Addrs, error) {
	var a Addrs
	f := strings.Fields(strings.TrimSuffix(line, "\r\n"))
	if !strings.HasSuffix(line, "\r\n") || len(f) != 6 || f[0] != "PROXY" || (f[1] != "TCP4" && f[1] != "TCP6") {
		return a, fmt.Errorf("bad line %q", line)
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := strconv.ParseUint(f[4], 10, 16)
	dp, err4 := strconv.ParseUint(f[5], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || src.Is4() != (f[1] == "TCP4") || dst.Is4() != src.Is4() {
		return a, fmt.Errorf("bad fields in %q", line)
	}
	return Addrs{Src: src.As16(), Dst: dst.As16(), SrcPort: uint16(sp), DstPort: uint16(dp)}, nil
}

// parseV2 is a plain reference reader of a version 2 header.
func parseV2(b []byte) (Addrs, Transport, uint64, error) {
	var a Addrs
	if len(b) < 16 || !bytes.Equal(b[:12], v2Signature[:]) || b[12] != 0x21 {
		return a, 0, 0, fmt.Errorf("bad preamble % x", b)
	}
	body := b[16:]
	if int(binary.BigEndian.Uint16(b[14:])) != len(body) {
		return a, 0, 0, fmt.Errorf("length field %d, body %d", binary.BigEndian.Uint16(b[14:]), len(body))
	}
	tr := Transport(b[13] & 0x0f)
	switch b[13] & 0xf0 {
	case 0x10:
		a.Src = netip.AddrFrom4([4]byte(body[0:4])).As16()
		a.Dst = netip.AddrFrom4([4]byte(body[4:8])).As16()
		body = body[8:]
	case 0x20:
		a.Src, a.Dst = [16]byte(body[0:16]), [16]byte(body[16:32])
		body = body[32:]
	default:
		return a, 0, 0, fmt.Errorf("family %#x", b[13])
	}
	a.SrcPort, a.DstPort = binary.BigEndian.Uint16(body), binary.BigEndian.Uint16(body[2:])
	tlv := body[4:]
	if len(tlv) != 11 || tlv[0] != 0x05 || binary.BigEndian.Uint16(tlv[1:]) != 8 {
		return a, 0, 0, fmt.Errorf("TLVs % x", tlv)
	}
	return a, tr, binary.BigEndian.Uint64(tlv[3:]), nil
}

// FuzzEncode: whatever the addresses, both versions fit MaxLen, and a plain
// reader gets back exactly what was encoded.
func FuzzEncode(f *testing.F) {
	f.Add(make([]byte, 32), uint16(1), uint16(2), uint64(3), true)
	f.Add(bytes.Repeat([]byte{0xff}, 32), uint16(65535), uint16(0), uint64(1<<63), false)
	f.Fuzz(func(t *testing.T, raw []byte, sport, dport uint16, id uint64, ipv4 bool) {
		if len(raw) < 32 {
			return
		}
		a := Addrs{Src: [16]byte(raw[:16]), Dst: [16]byte(raw[16:32]), SrcPort: sport, DstPort: dport}
		if ipv4 {
			a.Src = netip.AddrFrom4([4]byte(raw[:4])).As16()
			a.Dst = netip.AddrFrom4([4]byte(raw[16:20])).As16()
		}
		four := a.IPv4()
		buf := make([]byte, 128)
		n := EncodeV1(buf, &a)
		if n == 0 || n > MaxLen(1, four) {
			t.Fatalf("v1 length %d, max %d", n, MaxLen(1, four))
		}
		got, err := parseV1(string(buf[:n]))
		if err != nil || got != a {
			t.Fatalf("v1 %q read back as %+v (%v), want %+v", buf[:n], got, err, a)
		}
		n = EncodeV2(buf, &a, UDP, id)
		a2, tr, gotID, err := parseV2(buf[:n])
		if err != nil || a2 != a || tr != UDP || gotID != id || n != MaxLen(2, four) {
			t.Fatalf("v2 % x read back as %+v %d %d (%v)", buf[:n], a2, tr, gotID, err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	a := addrs("198.18.1.2", "198.18.0.10", 40000, 80)
	buf := make([]byte, 128)
	b.Run("v1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeV1(buf, a)
		}
	})
	b.Run("v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeV2(buf, a, TCP, 1)
		}
	})
}
