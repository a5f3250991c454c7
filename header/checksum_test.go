package header

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checksumReference is the plain RFC 1071 loop: 16-bit words, carry folded
// after every addition. The fast Checksum must agree with it everywhere.
func checksumReference(buf []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i < len(buf); i += 2 {
		w := uint32(buf[i]) << 8
		if i+1 < len(buf) {
			w |= uint32(buf[i+1])
		}
		sum += w
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the sum of these bytes is ddf2.
	buf := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(buf, 0); got != 0xddf2 {
		t.Errorf("Checksum = %#04x, want 0xddf2", got)
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1071))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := bytes.Repeat([]byte{0xff}, 70000) // maximal carries
	for _, src := range [][]byte{buf, ones, make([]byte, 70000)} {
		for n := 0; n <= 600; n++ {
			off := rng.IntN(8)
			initial := uint16(rng.Uint32())
			b := src[off : off+n]
			if got, want := Checksum(b, initial), checksumReference(b, initial); got != want {
				t.Fatalf("len %d off %d initial %#x: Checksum = %#04x, reference %#04x", n, off, initial, got, want)
			}
		}
		for _, n := range []int{1500, 9000, 65535, 69999} {
			if got, want := Checksum(src[:n], 0xffff), checksumReference(src[:n], 0xffff); got != want {
				t.Fatalf("len %d: Checksum = %#04x, reference %#04x", n, got, want)
			}
		}
	}
}

func TestChecksumSplitsAtEvenOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1071))
	buf := make([]byte, 301)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	whole := Checksum(buf, 0)
	for n := 0; n <= len(buf); n += 2 {
		if got := Checksum(buf[n:], Checksum(buf[:n], 0)); got != whole {
			t.Fatalf("split at %d: %#04x, whole %#04x", n, got, whole)
		}
		if got := ChecksumCombine(Checksum(buf[:n], 0), Checksum(buf[n:], 0)); got != whole {
			t.Fatalf("combine at %d: %#04x, whole %#04x", n, got, whole)
		}
	}
}

// TestChecksumUpdate2ByteAlignedMatchesRecompute replaces random aligned
// stretches of random buffers and compares the incremental field with a full
// recomputation (RFC 1624's point: eqn. 3 gives the same field, never -0).
func TestChecksumUpdate2ByteAlignedMatchesRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1624))
	for range 20000 {
		n := 2 + 2*rng.IntN(40)
		buf := make([]byte, n+rng.IntN(2))
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		buf[0] |= 1 // data that is not all zeros, as every real header
		field := ^Checksum(buf, 0)
		start := 2 * rng.IntN(n/2)
		end := start + 2*rng.IntN((n-start)/2+1)
		repl := make([]byte, end-start)
		for i := range repl {
			repl[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			copy(repl, buf[start:end]) // no-op replacement
		}
		var delta uint64 // the same change summed by the caller
		for i := 0; i < len(repl); i += 2 {
			delta += uint64(^binary.BigEndian.Uint16(buf[start+i:])) + uint64(binary.BigEndian.Uint16(repl[i:]))
		}
		if got, want := ChecksumUpdateDelta(field, delta), ChecksumUpdate2ByteAligned(field, buf[start:end], repl); got != want {
			t.Fatalf("buf %x [%d:%d]: ChecksumUpdateDelta %#04x, ChecksumUpdate2ByteAligned %#04x", buf, start, end, got, want)
		}
		field = ChecksumUpdate2ByteAligned(field, buf[start:end], repl)
		copy(buf[start:end], repl)
		if want := ^Checksum(buf, 0); field != want {
			t.Fatalf("buf %x [%d:%d]: incremental %#04x, full %#04x", buf, start, end, field, want)
		}
		// The single-word form agrees.
		if end-start >= 2 {
			old := binary.BigEndian.Uint16(buf[start:])
			w := uint16(rng.Uint32())
			field = ChecksumUpdateUint16(field, old, w)
			binary.BigEndian.PutUint16(buf[start:], w)
			if want := ^Checksum(buf, 0); field != want {
				t.Fatalf("uint16 update: incremental %#04x, full %#04x", field, want)
			}
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	src4, dst4 := []byte{198, 18, 1, 7}, []byte{198, 18, 0, 10}
	// RFC 9293 section 3.1: src, dst, zero, PTCL, TCP length.
	ph4 := append(append(append([]byte{}, src4...), dst4...), 0, ProtocolTCP, 0x05, 0xdc)
	if got, want := PseudoHeaderChecksum(ProtocolTCP, src4, dst4, 1500), Checksum(ph4, 0); got != want {
		t.Errorf("IPv4 pseudo-header = %#04x, want %#04x", got, want)
	}
	src6 := mustAddr("2001:2::1:7").AsSlice()
	dst6 := mustAddr("2001:2::10").AsSlice()
	// RFC 8200 section 8.1: src, dst, 32-bit length, 3 zero bytes, next header.
	ph6 := append(append(append([]byte{}, src6...), dst6...), 0, 0, 0xff, 0xee, 0, 0, 0, ProtocolUDP)
	if got, want := PseudoHeaderChecksum(ProtocolUDP, src6, dst6, 0xffee), Checksum(ph6, 0); got != want {
		t.Errorf("IPv6 pseudo-header = %#04x, want %#04x", got, want)
	}
}

func TestChecksumAllocatesNothing(t *testing.T) {
	buf := make([]byte, 1500)
	old, repl := make([]byte, 16), make([]byte, 16)
	repl[3] = 9
	var sink uint16
	if n := testing.AllocsPerRun(100, func() {
		sink += Checksum(buf, sink)
		sink = ChecksumUpdate2ByteAligned(sink, old, repl)
		sink = PseudoHeaderChecksum(ProtocolTCP, old, repl, 40)
	}); n != 0 {
		t.Errorf("checksum functions allocate %v times", n)
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, size := range []int{20, 64, 1500} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run("fast/"+strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				Checksum(buf, 0)
			}
		})
		b.Run("reference/"+strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				checksumReference(buf, 0)
			}
		})
	}
}
