package tunnel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"fastlvs/header"
)

// headroom is the free space before a received frame in its UMEM chunk.
const headroom = 256

// encapCase is one fixture row: an inner packet, the tunnel's ends, and
// (through the helpers) the gopacket-built frame that must come out.
type encapCase struct {
	name     string
	in       inner
	src, dst string
	l3Off    int
}

var encapCases = []encapCase{
	{"4in4 tcp df tos", inner{src: "198.18.1.11", dst: "198.18.0.10", tos: 0x2e << 2}, "198.18.2.1", "198.18.2.12", 14},
	{"4in4 udp no df", inner{src: "198.18.1.11", dst: "198.18.0.10", udp: true, noDF: true}, "198.18.2.1", "198.18.2.13", 14},
	{"4in4 padded to the ethernet minimum", inner{src: "198.18.1.11", dst: "198.18.0.10", udp: true, padTo: 60}, "198.18.2.1", "198.18.2.13", 14},
	{"4in4 vlan tagged", inner{src: "198.18.1.11", dst: "198.18.0.10", vlan: 42}, "198.18.2.1", "198.18.2.12", 18},
	{"6in4", inner{src: "2001:2:1::5", dst: "2001:2::10", tos: 0x01}, "198.18.2.1", "198.18.2.12", 14},
	{"4in6", inner{src: "198.18.1.11", dst: "198.18.0.10", udp: true, noDF: true}, "2001:2:2::1", "2001:2:2::2", 14},
	{"6in6", inner{src: "2001:2:1::5", dst: "2001:2::10", udp: true, tos: 0xb8}, "2001:2:2::1", "2001:2:2::2", 14},
}

// place puts frame into a fresh chunk after headroom bytes, as a UMEM RX
// frame lies.
func place(frame []byte) []byte {
	chunk := make([]byte, headroom+2048)
	copy(chunk[headroom:], frame)
	return chunk
}

func TestEncapsulateMatchesGopacket(t *testing.T) {
	for _, c := range encapCases {
		t.Run(c.name, func(t *testing.T) {
			frame := c.in.frame(t)
			chunk := place(frame)
			src, dst := as16(c.src), as16(c.dst)
			start, length := Encapsulate(chunk, headroom, len(frame), c.l3Off, &src, &dst, 0xbeef)
			if want := headroom - Overhead(&dst); start != want {
				t.Fatalf("start %d, want %d", start, want)
			}
			got := chunk[start : start+length]
			want := c.in.encapsulated(t, c.src, c.dst, 0xbeef)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame differs\n got: %s\nwant: %s", hex.EncodeToString(got), hex.EncodeToString(want))
			}
		})
	}
}

func TestEncapsulateLeavesInnerPacketUntouched(t *testing.T) {
	c := encapCases[0]
	frame := c.in.frame(t)
	chunk := place(frame)
	src, dst := as16(c.src), as16(c.dst)
	start, length := Encapsulate(chunk, headroom, len(frame), c.l3Off, &src, &dst, 1)
	if got, want := chunk[start+c.l3Off+20:start+length], frame[c.l3Off:]; !bytes.Equal(got, want) {
		t.Fatalf("inner packet changed\n got: %x\nwant: %x", got, want)
	}
}

func TestEncapsulateAllocatesNothing(t *testing.T) {
	c := encapCases[0]
	frame := c.in.frame(t)
	chunk := place(frame)
	src, dst := as16(c.src), as16(c.dst)
	allocs := testing.AllocsPerRun(1000, func() {
		copy(chunk[headroom:], frame)
		Encapsulate(chunk, headroom, len(frame), c.l3Off, &src, &dst, 7)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet, want 0", allocs)
	}
}

func BenchmarkEncapsulate(b *testing.B) {
	c := encapCases[0]
	frame := c.in.frame(b)
	chunk := place(frame)
	src, dst := as16(c.src), as16(c.dst)
	b.ReportAllocs()
	for b.Loop() {
		copy(chunk[headroom:headroom+c.l3Off], frame[:c.l3Off]) // the Ethernet header moved away
		Encapsulate(chunk, headroom, len(frame), c.l3Off, &src, &dst, 7)
	}
}

// TestWriteIPv4MatchesEncode checks the unrolled outer header against the
// header package's general encoder over random fields.
func TestWriteIPv4MatchesEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		var src, dst [16]byte
		src[10], src[11], dst[10], dst[11] = 0xff, 0xff, 0xff, 0xff
		binary.BigEndian.PutUint32(src[12:], rng.Uint32())
		binary.BigEndian.PutUint32(dst[12:], rng.Uint32())
		tos, totalLen, id, df := uint8(rng.UintN(256)), uint16(rng.UintN(65536)), uint16(rng.UintN(65536)), rng.UintN(2) == 1
		proto := uint8(header.ProtocolIPIP)
		if rng.UintN(2) == 1 {
			proto = header.ProtocolIPv6
		}
		got := make([]byte, header.IPv4MinimumSize)
		writeIPv4(got, tos, totalLen, id, df, proto, &src, &dst)
		f := header.IPv4Fields{TOS: tos, TotalLength: totalLen, ID: id, TTL: OuterTTL, Protocol: proto,
			Src: header.Unmap4(&src), Dst: header.Unmap4(&dst)}
		if df {
			f.Flags = header.IPv4FlagDontFragment
		}
		want := make([]byte, header.IPv4MinimumSize)
		header.IPv4(want).Encode(&f)
		if !bytes.Equal(got, want) {
			t.Fatalf("fields %+v:\n got %x\nwant %x", f, got, want)
		}
	}
}
