package seqadj

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// segment is a random TCP segment built with gopacket, and what it said
// before any adjustment.
type segment struct {
	tcp        header.TCP
	pseudo     uint16 // pseudo-header sum for a full recomputation
	seq, ack   uint32
	window     uint16
	flags      uint8
	sack       [][2]uint32
	ts         bool
	tsVal, ecr uint32
}

// randomSegment builds a TCP segment over IPv4 or IPv6 with a random
// option layout: NOPs anywhere (so timestamps and SACK blocks land at odd
// offsets too), MSS, window scale, SACK-permitted, timestamps, 1-3 SACK
// blocks and unknown options, and a random payload.
func randomSegment(tb testing.TB, rng *rand.Rand) segment {
	tb.Helper()
	var s segment
	s.seq, s.ack, s.window = rng.Uint32(), rng.Uint32(), uint16(rng.Uint32())
	var opts []layers.TCPOption
	size := 0
	add := func(o layers.TCPOption) {
		if size+int(o.OptionLength) <= 40 {
			opts = append(opts, o)
			size += int(o.OptionLength)
		}
	}
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	if rng.IntN(6) == 0 {
		// Linux's established layout, which Adjust parses on a fast path.
		s.ts, s.tsVal, s.ecr = true, rng.Uint32(), rng.Uint32()
		d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, s.tsVal), s.ecr)
		add(nop)
		add(nop)
		add(layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
	}
	for range rng.IntN(7) {
		for range rng.IntN(3) {
			add(nop)
		}
		switch rng.IntN(6) {
		case 0:
			add(layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}})
		case 1:
			add(layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}})
		case 2:
			if !s.ts {
				s.tsVal, s.ecr = rng.Uint32(), rng.Uint32()
				d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, s.tsVal), s.ecr)
				before := size
				add(layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
				s.ts = size > before
			}
		case 3:
			if s.sack == nil {
				n := 1 + rng.IntN(3)
				var d []byte
				var blocks [][2]uint32
				for range n {
					b := [2]uint32{rng.Uint32(), rng.Uint32()}
					blocks = append(blocks, b)
					d = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(d, b[0]), b[1])
				}
				before := size
				add(layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + 8*n), OptionData: d})
				if size > before {
					s.sack = blocks
				}
			}
		case 4:
			add(layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		case 5:
			add(layers.TCPOption{OptionType: 30, OptionLength: 6, OptionData: []byte{1, 2, 3, 4}})
		}
	}
	flags := uint8(rng.Uint32()) &^ header.TCPFlagSyn
	if rng.IntN(8) == 0 {
		flags |= header.TCPFlagSyn
	}
	if rng.IntN(4) != 0 {
		flags |= header.TCPFlagAck
	}
	s.flags = flags
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: s.seq, Ack: s.ack, Window: s.window, Options: opts,
		FIN: flags&header.TCPFlagFin != 0, SYN: flags&header.TCPFlagSyn != 0, RST: flags&header.TCPFlagRst != 0,
		PSH: flags&header.TCPFlagPsh != 0, ACK: flags&header.TCPFlagAck != 0, URG: flags&header.TCPFlagUrg != 0,
		ECE: flags&header.TCPFlagEce != 0, CWR: flags&header.TCPFlagCwr != 0}
	var nl gopacket.NetworkLayer
	var src, dst []byte
	if rng.IntN(2) == 0 {
		src, dst = net.IP{198, 18, 0, 1}, net.IP{198, 18, 1, 1}
		nl = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	} else {
		src, dst = net.ParseIP("2001:2::1"), net.ParseIP("2001:2::2")
		nl = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	}
	if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
		tb.Fatal(err)
	}
	payload := make([]byte, rng.IntN(64))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		tcp, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	s.tcp = header.TCP(append([]byte(nil), buf.Bytes()...))
	if !s.tcp.IsValid(len(s.tcp)) {
		tb.Fatalf("built an invalid segment % x", []byte(s.tcp))
	}
	s.pseudo = header.PseudoHeaderChecksum(header.ProtocolTCP, ipBytes(src), ipBytes(dst), uint16(len(s.tcp)))
	if s.tcp.Checksum() != s.tcp.CalculateChecksum(s.pseudo) {
		tb.Fatal("gopacket checksum differs from a full recomputation")
	}
	return s
}

func ipBytes(ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

func randomAdjust(rng *rand.Rand) Adjust {
	a := Adjust{
		ToClientWindowShift: int8(rng.IntN(29) - 14),
		ToServerWindowShift: int8(rng.IntN(29) - 14),
	}
	// Each part is zero a third of the time, so the paths that skip work
	// are exercised too.
	if rng.IntN(3) != 0 {
		a.ClientSeq = rng.Uint32()
	}
	if rng.IntN(3) != 0 {
		a.ServerSeq = rng.Uint32()
	}
	if rng.IntN(3) != 0 {
		a.ServerTS = rng.Uint32()
	}
	return a
}

// After ToServer and ToClient on random segments, every field moved as the
// Adjust says, nothing else changed, and the incremental checksum equals a
// full recomputation.
func TestAdjustProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		s := randomSegment(t, rng)
		a := randomAdjust(rng)
		toServer := i%2 == 0
		orig := append(header.TCP(nil), s.tcp...)
		var seqD, ackD, valD, ecrD uint32
		shift := a.ToClientWindowShift
		if toServer {
			a.ToServer(s.tcp)
			seqD, ackD, ecrD, shift = a.ClientSeq, a.ServerSeq, -a.ServerTS, a.ToServerWindowShift
		} else {
			a.ToClient(s.tcp)
			seqD, ackD, valD = a.ServerSeq, a.ClientSeq, a.ServerTS
		}
		hasAck := s.flags&header.TCPFlagAck != 0
		if !hasAck {
			ackD, ecrD = 0, 0
		}
		if s.flags&header.TCPFlagSyn != 0 {
			shift = 0
		}
		want := expected(orig, s, seqD, ackD, valD, ecrD, shift)
		if !bytes.Equal(s.tcp[:16], want[:16]) || !bytes.Equal(s.tcp[18:], want[18:]) {
			t.Fatalf("case %d (to server %v, %+v):\n got % x\nwant % x", i, toServer, a, []byte(s.tcp), want)
		}
		if got, full := s.tcp.Checksum(), s.tcp.CalculateChecksum(s.pseudo); got != full {
			t.Fatalf("case %d (to server %v, %+v): checksum %#04x, full recomputation %#04x\n% x",
				i, toServer, a, got, full, []byte(orig))
		}
	}
}

// expected rewrites a copy of orig field by field, independently of Adjust.
func expected(orig header.TCP, s segment, seqD, ackD, valD, ecrD uint32, shift int8) []byte {
	w := append([]byte(nil), orig...)
	binary.BigEndian.PutUint32(w[4:], s.seq+seqD)
	binary.BigEndian.PutUint32(w[8:], s.ack-ackD)
	binary.BigEndian.PutUint16(w[14:], RescaleWindow(s.window, shift))
	var o header.TCPOptions
	orig.ParseOptions(&o)
	if o.HasTimestamp != s.ts || (o.SACKBlocks > 0) != (s.sack != nil) {
		panic("option parser disagrees with the builder")
	}
	if s.ts {
		binary.BigEndian.PutUint32(w[o.TimestampOff:], s.tsVal+valD)
		binary.BigEndian.PutUint32(w[o.TimestampOff+4:], s.ecr+ecrD)
	}
	for i, b := range s.sack {
		off := o.SACKOff + 8*i
		binary.BigEndian.PutUint32(w[off:], b[0]-ackD)
		binary.BigEndian.PutUint32(w[off+4:], b[1]-ackD)
	}
	return w
}

// Applying an Adjust and then its inverse restores every byte.
func TestAdjustInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		s := randomSegment(t, rng)
		a := randomAdjust(rng)
		a.ToClientWindowShift, a.ToServerWindowShift = 0, 0
		inv := Adjust{ClientSeq: -a.ClientSeq, ServerSeq: -a.ServerSeq, ServerTS: -a.ServerTS}
		orig := append(header.TCP(nil), s.tcp...)
		a.ToServer(s.tcp)
		inv.ToServer(s.tcp)
		a.ToClient(s.tcp)
		inv.ToClient(s.tcp)
		if !bytes.Equal(s.tcp, orig) {
			t.Fatalf("case %d: % x\nbecame % x", i, []byte(orig), []byte(s.tcp))
		}
	}
}

func TestRescaleWindow(t *testing.T) {
	for _, tc := range []struct {
		w     uint16
		shift int8
		want  uint16
	}{
		{100, 0, 100}, {100, 2, 400}, {0x4000, 2, 0xffff}, {0xffff, 14, 0xffff},
		{400, -2, 100}, {3, -2, 0}, {0xffff, -14, 3},
	} {
		if got := RescaleWindow(tc.w, tc.shift); got != tc.want {
			t.Errorf("RescaleWindow(%d, %d) = %d, want %d", tc.w, tc.shift, got, tc.want)
		}
	}
}

func TestAdjustIsZero(t *testing.T) {
	if !(&Adjust{}).IsZero() {
		t.Error("zero Adjust not IsZero")
	}
	if (&Adjust{ToServerWindowShift: 1}).IsZero() {
		t.Error("window shift counted as zero")
	}
}

func TestAdjustAllocs(t *testing.T) {
	tcp := establishedSegment(t, 2)
	a := Adjust{ClientSeq: 1, ServerSeq: 2, ServerTS: 3, ToClientWindowShift: 1}
	if n := testing.AllocsPerRun(1000, func() {
		a.ToServer(tcp)
		a.ToClient(tcp)
	}); n != 0 {
		t.Errorf("%v allocations per adjustment", n)
	}
}

func FuzzSeqAdjust(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 16 {
		f.Add([]byte(randomSegment(f, rng).tcp), rng.Uint32(), rng.Uint32(), rng.Uint32(), int8(3), false)
	}
	f.Fuzz(func(t *testing.T, seg []byte, clientSeq, serverSeq, serverTS uint32, shift int8, toServer bool) {
		tcp := header.TCP(seg)
		if !tcp.IsValid(len(tcp)) {
			return
		}
		const pseudo = 0x1234
		valid := tcp.Checksum() == tcp.CalculateChecksum(pseudo)
		a := Adjust{ClientSeq: clientSeq, ServerSeq: serverSeq, ServerTS: serverTS,
			ToClientWindowShift: shift % 15, ToServerWindowShift: -shift % 15}
		if toServer {
			a.ToServer(tcp)
		} else {
			a.ToClient(tcp)
		}
		if valid && tcp.Checksum() != tcp.CalculateChecksum(pseudo) {
			t.Fatalf("a valid checksum became invalid: % x", seg)
		}
	})
}

// BenchmarkAdjustEstablished adjusts typical established segments with
// SYN-proxy offsets (sequence and timestamp): Linux's NOP NOP TS layout, and
// an ACK carrying three SACK blocks after it. ns/op is one segment.
func BenchmarkAdjustEstablished(b *testing.B) {
	a := Adjust{ServerSeq: 0x12345678, ServerTS: 0x1000}
	for _, bc := range []struct {
		name  string
		sack  int
		apply func(header.TCP)
	}{
		{"to-server", 0, a.ToServer},
		{"to-client", 0, a.ToClient},
		{"to-server-sack3", 3, a.ToServer},
	} {
		tcp := establishedSegment(b, bc.sack)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.apply(tcp)
			}
		})
	}
}

func establishedSegment(tb testing.TB, sackBlocks int) header.TCP {
	tb.Helper()
	optLen := 12
	if sackBlocks > 0 {
		optLen += 4 + 8*sackBlocks
	}
	tcp := make(header.TCP, 20+optLen+100)
	tcp.Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 3, AckNum: 4, DataOffset: 20 + optLen,
		Flags: header.TCPFlagAck | header.TCPFlagPsh, WindowSize: 500})
	copy(tcp[20:], []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	if sackBlocks > 0 {
		copy(tcp[32:], []byte{1, 1, 5, byte(2 + 8*sackBlocks)})
	}
	tcp.SetChecksum(tcp.CalculateChecksum(0))
	return tcp
}

func TestPackRoundTrip(t *testing.T) {
	for _, a := range []Adjust{{}, {ClientSeq: 1, ServerSeq: 0xdeadbeef, ServerTS: 0x80000001, ToClientWindowShift: -7, ToServerWindowShift: 14}} {
		var b [PackedSize]byte
		a.Pack(&b)
		if got := Unpack(&b); got != a {
			t.Fatalf("Unpack(Pack(%+v)) = %+v", a, got)
		}
	}
}
