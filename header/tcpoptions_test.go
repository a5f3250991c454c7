package header

import "testing"

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
