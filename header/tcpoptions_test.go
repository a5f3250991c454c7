package header

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestParseOptions(t *testing.T) {
	tcp := make(TCP, 60)
	opts := []byte{
		1, 2, 4, 5, 0xb4, // NOP, MSS 1460: the MSS at an odd offset
		4, 2, // SACK-permitted
		8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // timestamps
		1, 3, 3, 14, // NOP, window scale 14
		5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, // two SACK blocks
		0, // EOL
	}
	copy(tcp[20:], opts)
	tcp[12] = byte((20+len(opts)+3)/4) << 4
	var got TCPOptions
	tcp.ParseOptions(&got)
	want := TCPOptions{MSS: 1460, HasMSS: true, WindowScale: 14, HasWScale: true, SACKPermitted: true,
		HasTimestamp: true, TSVal: 7, TSEcr: 9, TimestampOff: 29, SACKOff: 43, SACKBlocks: 2}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseOptionsMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []byte
		want TCPOptions
	}{
		{"mss then length past the end", []byte{2, 4, 5, 0xb4, 8, 12, 0, 0}, TCPOptions{MSS: 1460, HasMSS: true}},
		{"zero length", []byte{2, 4, 5, 0xb4, 3, 0, 7, 0}, TCPOptions{MSS: 1460, HasMSS: true}},
		{"mss with the wrong length is absent", []byte{2, 3, 5, 3, 3, 9, 1, 0}, TCPOptions{WindowScale: 9, HasWScale: true}},
		{"kind at the last byte", []byte{1, 1, 1, 4}, TCPOptions{}},
		{"eol ends", []byte{0, 4, 2, 0}, TCPOptions{}},
		{"sack with a partial block is absent", []byte{5, 6, 0, 0, 0, 1, 1, 1}, TCPOptions{}},
	} {
		tcp := make(TCP, 20+len(tc.opts))
		tcp[12] = byte((20+len(tc.opts))/4) << 4
		copy(tcp[20:], tc.opts)
		var got TCPOptions
		tcp.ParseOptions(&got)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestTCPEncodeMatchesGopacket(t *testing.T) {
	b := make(TCP, 24)
	b.Encode(&TCPFields{SrcPort: 1234, DstPort: 80, SeqNum: 0xdeadbeef, AckNum: 0x01020304, DataOffset: 24,
		Flags: TCPFlagSyn | TCPFlagAck | TCPFlagEce, WindowSize: 29200, UrgentPointer: 7})
	copy(b[20:], []byte{TCPOptionMSS, TCPOptionMSSLength, 5, 0xb4})
	var got layers.TCP
	if err := got.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if got.SrcPort != 1234 || got.DstPort != 80 || got.Seq != 0xdeadbeef || got.Ack != 0x01020304 ||
		got.DataOffset != 6 || !got.SYN || !got.ACK || !got.ECE || got.FIN || got.RST || got.PSH || got.URG || got.CWR ||
		got.Window != 29200 || got.Urgent != 7 || got.Checksum != 0 || len(got.Options) != 1 {
		t.Errorf("gopacket decodes %+v", got)
	}
}
