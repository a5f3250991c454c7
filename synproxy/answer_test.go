package synproxy

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
)

var testConfig = Config{MSS: 1400, Window: 65535, TTL: 64}

var testNow = Now{Window: 12345, TSMillis: 987654}

// linuxSYNACKOptions is the option layout of a SYN/ACK answering a SYN with
// every option, as Linux lays it out.
var linuxSYNACKOptions = []layers.TCPOptionKind{layers.TCPOptionKindMSS, layers.TCPOptionKindSACKPermitted,
	layers.TCPOptionKindTimestamps, layers.TCPOptionKindNop, layers.TCPOptionKindWindowScale}

func TestAnswerSYN(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      tcpSpec
		cfg       Config
		wantOpts  []layers.TCPOptionKind
		wantWS    bool
		wantSACK  bool
		wantTS    bool
		wantECE   bool
		clientMSS uint16 // the MSS the cookie must carry
	}{
		{
			name:     "ipv4 linux syn",
			spec:     tcpSpec{src: client4, dst: vip4, options: synOptions(1460, 7, true, true, 1111)},
			wantOpts: linuxSYNACKOptions,
			wantWS:   true, wantSACK: true, wantTS: true, clientMSS: 1460,
		},
		{
			name:      "ipv4 no options",
			spec:      tcpSpec{src: client4, dst: vip4},
			wantOpts:  []layers.TCPOptionKind{layers.TCPOptionKindMSS},
			clientMSS: 536,
		},
		{
			name:      "ipv4 window scale and sack without timestamps are not offered",
			spec:      tcpSpec{src: client4, dst: vip4, options: synOptions(1300, 9, true, false, 0)},
			wantOpts:  []layers.TCPOptionKind{layers.TCPOptionKindMSS},
			clientMSS: 1300,
		},
		{
			name: "ipv4 timestamps only",
			spec: tcpSpec{src: client4, dst: vip4, options: synOptions(1452, -1, false, true, 5)},
			wantOpts: []layers.TCPOptionKind{layers.TCPOptionKindMSS, layers.TCPOptionKindNop,
				layers.TCPOptionKindNop, layers.TCPOptionKindTimestamps},
			wantTS: true, clientMSS: 1440,
		},
		{
			name:     "ipv6 linux syn",
			spec:     tcpSpec{src: client6, dst: vip6, options: synOptions(1440, 10, true, true, 2222)},
			wantOpts: linuxSYNACKOptions,
			wantWS:   true, wantSACK: true, wantTS: true, clientMSS: 1440,
		},
		{
			name:      "ipv6 no options",
			spec:      tcpSpec{src: client6, dst: vip6},
			wantOpts:  []layers.TCPOptionKind{layers.TCPOptionKindMSS},
			clientMSS: 1220,
		},
		{
			name: "vlan tagged, ip options and payload dropped",
			spec: tcpSpec{src: client4, dst: vip4, vlan: 42, ipOptions: true, payload: []byte("fast open data"),
				options: synOptions(1460, 7, true, true, 1111)},
			wantOpts: linuxSYNACKOptions,
			wantWS:   true, wantSACK: true, wantTS: true, clientMSS: 1460,
		},
		{
			name:     "ecn asked and allowed",
			spec:     tcpSpec{src: client4, dst: vip4, ece: true, cwr: true, options: synOptions(1460, 7, true, true, 1)},
			cfg:      Config{ECN: true},
			wantOpts: linuxSYNACKOptions,
			wantWS:   true, wantSACK: true, wantTS: true, wantECE: true, clientMSS: 1460,
		},
		{
			name:     "ecn asked, not allowed",
			spec:     tcpSpec{src: client4, dst: vip4, ece: true, cwr: true, options: synOptions(1460, 7, true, true, 1)},
			wantOpts: linuxSYNACKOptions,
			wantWS:   true, wantSACK: true, wantTS: true, clientMSS: 1460,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			cfg.ECN = tc.cfg.ECN
			s := NewSecrets(testKey(1))
			spec := tc.spec
			spec.sport, spec.dport, spec.seq, spec.syn, spec.window = 40001, 80, 0xfffffff0, true, 64240
			frame := buildTCP(t, spec)
			in := decode(t, append([]byte(nil), frame...))

			p := parse(t, frame)
			n, r := AnswerSYN(p, &s, testNow, &cfg)
			if r != OK {
				t.Fatalf("AnswerSYN: %v", r)
			}
			out := decode(t, frame[:n])

			if !bytes.Equal(out.eth.SrcMAC, in.eth.DstMAC) || !bytes.Equal(out.eth.DstMAC, in.eth.SrcMAC) {
				t.Errorf("MACs %v -> %v, want swapped", out.eth.SrcMAC, out.eth.DstMAC)
			}
			if spec.vlan != 0 && out.eth.EthernetType != layers.EthernetTypeDot1Q {
				t.Errorf("VLAN tag lost: ethertype %v", out.eth.EthernetType)
			}
			if out.ip4 != nil {
				if !out.ip4.SrcIP.Equal(in.ip4.DstIP) || !out.ip4.DstIP.Equal(in.ip4.SrcIP) {
					t.Errorf("addresses %v -> %v", out.ip4.SrcIP, out.ip4.DstIP)
				}
				if out.ip4.TTL != cfg.TTL || out.ip4.IHL != 5 || out.ip4.TOS != in.ip4.TOS&^3 ||
					out.ip4.Flags != layers.IPv4DontFragment {
					t.Errorf("IPv4 TTL %d IHL %d TOS %#x flags %v", out.ip4.TTL, out.ip4.IHL, out.ip4.TOS, out.ip4.Flags)
				}
				if int(out.ip4.Length) != n-(len(frame[:n])-len(out.ip4.Contents)-len(out.ip4.Payload)) {
					t.Errorf("IPv4 length %d for frame %d", out.ip4.Length, n)
				}
			} else {
				if !out.ip6.SrcIP.Equal(in.ip6.DstIP) || !out.ip6.DstIP.Equal(in.ip6.SrcIP) {
					t.Errorf("addresses %v -> %v", out.ip6.SrcIP, out.ip6.DstIP)
				}
				if out.ip6.HopLimit != cfg.TTL || out.ip6.TrafficClass != in.ip6.TrafficClass&^3 {
					t.Errorf("IPv6 hop limit %d class %#x", out.ip6.HopLimit, out.ip6.TrafficClass)
				}
			}
			o := out.tcp
			if o.SrcPort != in.tcp.DstPort || o.DstPort != in.tcp.SrcPort {
				t.Errorf("ports %d -> %d", o.SrcPort, o.DstPort)
			}
			if !o.SYN || !o.ACK || o.RST || o.FIN || o.PSH || o.CWR || o.ECE != tc.wantECE {
				t.Errorf("flags SYN %v ACK %v RST %v FIN %v ECE %v", o.SYN, o.ACK, o.RST, o.FIN, o.ECE)
			}
			if o.Ack != in.tcp.Seq+1 {
				t.Errorf("ack %#x, want %#x", o.Ack, in.tcp.Seq+1)
			}
			if o.Window != cfg.Window || len(o.Payload) != 0 {
				t.Errorf("window %d payload %d", o.Window, len(o.Payload))
			}
			if got := kindsWithoutPadding(out.raw); !equalKinds(got, tc.wantOpts) {
				t.Errorf("options %v, want %v", got, tc.wantOpts)
			}
			if mss := binary.BigEndian.Uint16(out.opts[layers.TCPOptionKindMSS]); mss != cfg.MSS {
				t.Errorf("MSS %d, want the service's %d", mss, cfg.MSS)
			}
			if tc.wantWS && out.opts[layers.TCPOptionKindWindowScale][0] != ProxyWindowScale {
				t.Errorf("window scale %d", out.opts[layers.TCPOptionKindWindowScale][0])
			}
			f := Flow{Src: addr16(in.srcIP()), Dst: addr16(in.dstIP()), SrcPort: uint16(in.tcp.SrcPort), DstPort: uint16(in.tcp.DstPort)}
			idx, ok := s.CheckCookie(&f, in.tcp.Seq, o.Seq, testNow)
			if !ok || MSSAt(idx, f.IsIPv6()) != tc.clientMSS {
				t.Errorf("cookie carries MSS index %d (%v), want MSS %d", idx, ok, tc.clientMSS)
			}
			if tc.wantTS {
				ts := out.opts[layers.TCPOptionKindTimestamps]
				val, ecr := binary.BigEndian.Uint32(ts), binary.BigEndian.Uint32(ts[4:])
				inTS := in.opts[layers.TCPOptionKindTimestamps]
				if ecr != binary.BigEndian.Uint32(inTS) {
					t.Errorf("TSecr %d, want the client's TSval %d", ecr, binary.BigEndian.Uint32(inTS))
				}
				wantWS := uint32(tsOptWScaleMask)
				if tc.wantWS {
					wantWS = uint32(in.opts[layers.TCPOptionKindWindowScale][0])
				}
				if val&tsOptWScaleMask != wantWS || (val&tsOptSACK != 0) != tc.wantSACK || (val&tsOptECN != 0) != tc.wantECE {
					t.Errorf("TSval %#x does not encode wscale %d sack %v ecn %v", val, wantWS, tc.wantSACK, tc.wantECE)
				}
				if testNow.TSMillis-val >= 64 {
					t.Errorf("TSval %d not within 64 ms before %d", val, testNow.TSMillis)
				}
			}
		})
	}
}

func (d decoded) srcIP() netip.Addr {
	if d.ip4 != nil {
		a, _ := netip.AddrFromSlice(d.ip4.SrcIP.To4())
		return a
	}
	a, _ := netip.AddrFromSlice(d.ip6.SrcIP)
	return a
}

func (d decoded) dstIP() netip.Addr {
	if d.ip4 != nil {
		a, _ := netip.AddrFromSlice(d.ip4.DstIP.To4())
		return a
	}
	a, _ := netip.AddrFromSlice(d.ip6.DstIP)
	return a
}

func addr16(a netip.Addr) [16]byte { return a.As16() }

// kindsWithoutPadding drops the EOL padding gopacket reports.
func kindsWithoutPadding(k []layers.TCPOptionKind) []layers.TCPOptionKind {
	var out []layers.TCPOptionKind
	for _, v := range k {
		if v != layers.TCPOptionKindEndList {
			out = append(out, v)
		}
	}
	return out
}

func equalKinds(a, b []layers.TCPOptionKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAnswerSYNRefuses(t *testing.T) {
	s := NewSecrets(testKey(1))
	for _, tc := range []struct {
		name string
		spec tcpSpec
		want Result
	}{
		{"ack", tcpSpec{ack_: true}, NotSYN},
		{"syn ack", tcpSpec{syn: true, ack_: true}, NotSYN},
		{"syn rst", tcpSpec{syn: true, rst: true}, NotSYN},
	} {
		spec := tc.spec
		spec.src, spec.dst, spec.sport, spec.dport = client4, vip4, 1, 2
		frame := buildTCP(t, spec)
		orig := append([]byte(nil), frame...)
		if _, r := AnswerSYN(parse(t, frame), &s, testNow, &testConfig); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r, tc.want)
		}
		if !bytes.Equal(frame, orig) {
			t.Errorf("%s: frame changed", tc.name)
		}
	}

	// A bare SYN in a buffer with no room for the MSS option it needs.
	// (gopacket pads the frame to 60 bytes; cut it to the 54 the SYN needs.)
	frame := buildTCP(t, tcpSpec{src: client4, dst: vip4, syn: true})
	frame = frame[:54:54]
	orig := append([]byte(nil), frame...)
	if _, r := AnswerSYN(parse(t, frame), &s, testNow, &testConfig); r != NoRoom {
		t.Errorf("full buffer: %v, want %v", r, NoRoom)
	}
	if !bytes.Equal(frame, orig) {
		t.Error("full buffer: frame changed")
	}
}

// Every MSS index × window scale (none, 0..14, and an out-of-range 15) ×
// SACK × timestamps, IPv4 and IPv6: SYN → SYN/ACK → the client's ACK →
// CheckACK recovers exactly what the SYN/ACK promised, by the secrets that
// issued the cookie and after they rotated.
func TestHandshakeRoundTripAllOptions(t *testing.T) {
	s := NewSecrets(testKey(1))
	rotated := s
	rotated.Rotate(testKey(50), testNow)
	for _, pair := range [][2]netip.Addr{{client4, vip4}, {client6, vip6}} {
		ipv6 := pair[0].Is6()
		for idx := range NumMSSIndexes {
			for ws := -1; ws <= 15; ws++ {
				for _, sack := range []bool{false, true} {
					for _, ts := range []bool{false, true} {
						mss := MSSAt(idx, ipv6) + 3
						syn := buildTCP(t, tcpSpec{src: pair[0], dst: pair[1], sport: 50000, dport: 80, seq: 7777,
							syn: true, window: 1000, options: synOptions(mss, ws, sack, ts, 4242)})
						p := parse(t, syn)
						n, r := AnswerSYN(p, &s, testNow, &testConfig)
						if r != OK {
							t.Fatalf("AnswerSYN: %v", r)
						}
						synack := decode(t, syn[:n])
						ack := clientACK(t, synack, 4243, 500, nil)
						hs, r := CheckACK(parse(t, ack), &s, testNow)
						if r != OK {
							t.Fatalf("idx %d ws %d sack %v ts %v v6 %v: CheckACK %v", idx, ws, sack, ts, ipv6, r)
						}
						if hsRotated, r := CheckACK(parse(t, ack), &rotated, testNow); r != OK || hsRotated != hs {
							t.Errorf("idx %d ws %d sack %v ts %v v6 %v: after a rotation %v %+v", idx, ws, sack, ts, ipv6, r, hsRotated)
						}
						want := Handshake{ClientISN: 7777, CookieISN: synack.tcp.Seq, MSS: MSSAt(idx, ipv6),
							ClientWindow: 500}
						if ts {
							want.Timestamps, want.ClientTSVal = true, 4243
							want.ProxyTSVal = binary.BigEndian.Uint32(synack.opts[layers.TCPOptionKindTimestamps])
							want.SACKOK = sack
							if ws >= 0 {
								want.WScaleOK, want.WScale = true, uint8(min(ws, 14))
							}
						}
						if hs != want {
							t.Errorf("idx %d ws %d sack %v ts %v v6 %v:\n got %+v\nwant %+v", idx, ws, sack, ts, ipv6, hs, want)
						}
					}
				}
			}
		}
	}
}

// clientACK builds the client's answer to a decoded SYN/ACK: seq ISN+1,
// ack cookie+1, the TS echo if the SYN/ACK had timestamps.
func clientACK(tb testing.TB, synack decoded, tsVal uint32, window uint16, payload []byte) []byte {
	tb.Helper()
	var opts []layers.TCPOption
	if ts, ok := synack.opts[layers.TCPOptionKindTimestamps]; ok {
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			tsOption(tsVal, binary.BigEndian.Uint32(ts)))
	}
	return buildTCP(tb, tcpSpec{
		src: synack.dstIP(), dst: synack.srcIP(),
		sport: uint16(synack.tcp.DstPort), dport: uint16(synack.tcp.SrcPort),
		seq: synack.tcp.Ack, ack: synack.tcp.Seq + 1, ack_: true, psh: len(payload) > 0,
		window: window, options: opts, payload: payload,
	})
}

func TestCheckACKRejects(t *testing.T) {
	s := NewSecrets(testKey(1))
	syn := buildTCP(t, tcpSpec{src: client4, dst: vip4, sport: 50000, dport: 80, seq: 7777, syn: true,
		options: synOptions(1460, 7, true, true, 1)})
	n, _ := AnswerSYN(parse(t, syn), &s, testNow, &testConfig)
	synack := decode(t, syn[:n])
	good := clientACK(t, synack, 2, 100, nil)
	if _, r := CheckACK(parse(t, good), &s, testNow); r != OK {
		t.Fatalf("good ACK: %v", r)
	}
	if _, r := CheckACK(parse(t, good), &s, Now{Window: testNow.Window + MaxCookieAge}); r != InvalidCookie {
		t.Errorf("expired ACK: %v", r)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*tcpSpec)
		want   Result
	}{
		{"wrong ack", func(s *tcpSpec) { s.ack++ }, InvalidCookie},
		{"wrong seq", func(s *tcpSpec) { s.seq++ }, InvalidCookie},
		{"other port", func(s *tcpSpec) { s.sport++ }, InvalidCookie},
		{"other client", func(s *tcpSpec) { s.src = netip.MustParseAddr("198.18.0.11") }, InvalidCookie},
		{"rst", func(s *tcpSpec) { s.rst = true }, NotACK},
		{"syn", func(s *tcpSpec) { s.syn = true }, NotACK},
		{"no ack flag", func(s *tcpSpec) { s.ack_ = false }, NotACK},
	} {
		spec := tcpSpec{src: client4, dst: vip4, sport: 50000, dport: 80, seq: 7778, ack: synack.tcp.Seq + 1, ack_: true}
		tc.mutate(&spec)
		if _, r := CheckACK(parse(t, buildTCP(t, spec)), &s, testNow); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r, tc.want)
		}
	}
}
