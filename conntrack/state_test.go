package conntrack

import (
	"testing"
	"time"
)

func TestStateNamesMatchIPVS(t *testing.T) {
	want := map[State]string{
		StateNone: "NONE", StateEstablished: "ESTABLISHED", StateSynSent: "SYN_SENT", StateSynRecv: "SYN_RECV",
		StateFinWait: "FIN_WAIT", StateTimeWait: "TIME_WAIT", StateClose: "CLOSE", StateCloseWait: "CLOSE_WAIT",
		StateLastAck: "LAST_ACK", StateListen: "LISTEN", StateSynAck: "SYNACK", StateUDP: "UDP", StateICMP: "ICMP",
	}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("State(%d).String() = %q, want %q", s, s.String(), name)
		}
		if s.Active() != (s == StateEstablished) {
			t.Errorf("%v.Active() = %v", s, s.Active())
		}
	}
	if State(200).String() != "ERR!" {
		t.Errorf("out of range state = %q", State(200).String())
	}
}

func TestDefaultTimeoutsAreIPVS(t *testing.T) {
	d := DefaultTimeouts()
	want := []struct {
		got, want time.Duration
	}{
		{d.None, 2 * time.Second}, {d.Established, 900 * time.Second}, {d.SynSent, 120 * time.Second},
		{d.SynRecv, 60 * time.Second}, {d.FinWait, 120 * time.Second}, {d.TimeWait, 120 * time.Second},
		{d.Close, 10 * time.Second}, {d.CloseWait, 60 * time.Second}, {d.LastAck, 30 * time.Second},
		{d.Listen, 120 * time.Second}, {d.SynAck, 120 * time.Second}, {d.UDP, 300 * time.Second},
		{d.ICMP, 60 * time.Second},
	}
	for i, w := range want {
		if w.got != w.want {
			t.Errorf("timeout %d = %v, want %v", i, w.got, w.want)
		}
	}
}

const (
	syn    = TCPFlagSYN
	synAck = TCPFlagSYN | TCPFlagACK
	ack    = TCPFlagACK
	fin    = TCPFlagFIN | TCPFlagACK
	rst    = TCPFlagRST
	rstAck = TCPFlagRST | TCPFlagACK
)

type packet struct {
	dir   Dir
	flags uint8
	want  State
}

func runStates(t *testing.T, name string, inputOnly bool, pkts []packet) {
	t.Helper()
	s := StateNone
	for i, p := range pkts {
		next := NextState(s, p.dir, p.flags, inputOnly)
		if next != p.want {
			t.Errorf("%s: packet %d (dir %d flags %#x) from %v: got %v, want %v", name, i, p.dir, p.flags, s, next, p.want)
		}
		s = next
	}
}

// Whole-conversation paths through IPVS's tcp_states, as a NAT director (both directions) sees them.
func TestTCPStatesNormalConversations(t *testing.T) {
	runStates(t, "client closes first", false, []packet{
		{DirIn, syn, StateSynRecv},
		{DirOut, synAck, StateSynRecv},
		{DirIn, ack, StateEstablished},
		{DirIn, ack, StateEstablished},
		{DirOut, ack, StateEstablished},
		{DirIn, fin, StateCloseWait},
		{DirOut, ack, StateCloseWait},
		{DirOut, fin, StateTimeWait},
		{DirIn, ack, StateTimeWait},
	})
	runStates(t, "server closes first", false, []packet{
		{DirIn, syn, StateSynRecv},
		{DirOut, synAck, StateSynRecv},
		{DirIn, ack, StateEstablished},
		{DirOut, fin, StateFinWait},
		{DirIn, ack, StateFinWait},
		{DirIn, fin, StateTimeWait},
		{DirOut, ack, StateTimeWait},
	})
	runStates(t, "server refuses", false, []packet{
		{DirIn, syn, StateSynRecv},
		{DirOut, rstAck, StateClose},
		{DirIn, syn, StateSynRecv}, // a retried SYN reopens it, as in IPVS
	})
	runStates(t, "client resets an established conn", false, []packet{
		{DirIn, syn, StateSynRecv},
		{DirOut, synAck, StateSynRecv},
		{DirIn, ack, StateEstablished},
		{DirIn, rst, StateClose},
	})
}

// DR/TUN: only client packets, IPVS's INPUT_ONLY table.
func TestTCPStatesInputOnlyConversations(t *testing.T) {
	runStates(t, "dr close", true, []packet{
		{DirIn, syn, StateSynRecv},
		{DirIn, ack, StateEstablished},
		{DirIn, ack, StateEstablished},
		{DirIn, fin, StateFinWait}, // normal table: CLOSE_WAIT
		{DirIn, ack, StateFinWait},
		{DirIn, rst, StateClose},
	})
	runStates(t, "dr reset while syn_recv", true, []packet{
		{DirIn, syn, StateSynRecv},
		{DirIn, rst, StateSynRecv}, // RST in SYN_RECV is ignored by IPVS (not CLOSE)
	})
}

// Single cells where the three tables differ, or where IPVS's behaviour is easy to get wrong.
func TestTCPStatesCells(t *testing.T) {
	cases := []struct {
		name      string
		from      State
		dir       Dir
		inputOnly bool
		flags     uint8
		want      State
	}{
		{"input ack without syn closes a new conn", StateNone, DirIn, false, ack, StateClose},
		{"input-only ack without syn closes a new conn", StateNone, DirIn, true, ack, StateClose},
		{"output ack on a new conn establishes", StateNone, DirOut, false, ack, StateEstablished},
		{"output syn on a new conn is syn_sent", StateNone, DirOut, false, syn, StateSynSent},
		{"no flags move to close", StateEstablished, DirIn, false, 0, StateClose},
		{"no flags move to close, output", StateEstablished, DirOut, false, 0, StateClose},
		{"psh only moves to close", StateEstablished, DirIn, false, 0x08, StateClose},
		{"rst wins over syn", StateEstablished, DirIn, false, TCPFlagRST | TCPFlagSYN, StateClose},
		{"syn wins over fin", StateClose, DirIn, false, TCPFlagSYN | TCPFlagFIN, StateSynRecv},
		{"fin wins over ack", StateEstablished, DirIn, false, fin, StateCloseWait},
		{"input-only fin from established", StateEstablished, DirIn, true, fin, StateFinWait},
		{"input-only rst in synack", StateSynAck, DirIn, true, rst, StateClose},
		{"input rst in synack", StateSynAck, DirIn, false, rst, StateSynRecv},
		{"input rst in last_ack stays", StateLastAck, DirIn, false, rst, StateLastAck},
		{"output rst in syn_sent stays", StateSynSent, DirOut, false, rst, StateSynSent},
		{"output rst in time_wait stays", StateTimeWait, DirOut, false, rst, StateTimeWait},
		{"output ack in listen establishes", StateListen, DirOut, false, ack, StateEstablished},
		{"input ack in last_ack closes", StateLastAck, DirIn, false, ack, StateClose},
		{"output fin in close_wait", StateCloseWait, DirOut, false, fin, StateTimeWait},
		{"output dir ignores inputOnly", StateEstablished, DirOut, true, fin, StateFinWait},
		{"udp unchanged", StateUDP, DirIn, false, syn, StateUDP},
		{"icmp unchanged", StateICMP, DirOut, false, rst, StateICMP},
	}
	for _, c := range cases {
		if got := NextState(c.from, c.dir, c.flags, c.inputOnly); got != c.want {
			t.Errorf("%s: NextState(%v) = %v, want %v", c.name, c.from, got, c.want)
		}
	}
}

func TestStateValidPerProtocol(t *testing.T) {
	for s := State(0); s < 255; s++ {
		tcp := s >= StateEstablished && s <= StateSynAck
		if s.Valid(6) != tcp || s.Valid(17) != (s == StateUDP) || s.Valid(1) {
			t.Fatalf("state %d: Valid tcp %v udp %v icmp %v", s, s.Valid(6), s.Valid(17), s.Valid(1))
		}
	}
}
