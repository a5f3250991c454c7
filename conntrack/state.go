package conntrack

import "time"

// State is a connection's protocol state, numbered like IPVS's IP_VS_TCP_S_* for TCP.
type State uint8

// IPVS TCP states (IP_VS_TCP_S_*), then the single states of UDP and ICMP conns.
const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	StateUDP
	StateICMP
	numStates
)

const numTCPStates = int(StateSynAck) + 1

var stateNames = [numStates]string{
	StateNone:        "NONE",
	StateEstablished: "ESTABLISHED",
	StateSynSent:     "SYN_SENT",
	StateSynRecv:     "SYN_RECV",
	StateFinWait:     "FIN_WAIT",
	StateTimeWait:    "TIME_WAIT",
	StateClose:       "CLOSE",
	StateCloseWait:   "CLOSE_WAIT",
	StateLastAck:     "LAST_ACK",
	StateListen:      "LISTEN",
	StateSynAck:      "SYNACK",
	StateUDP:         "UDP",
	StateICMP:        "ICMP",
}

// String returns the name ipvsadm -lc prints for the state.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "ERR!"
}

// Valid reports whether s is a state a connection of protocol proto (6 TCP,
// 17 UDP) can be in: anything else, from a peer director say, must not
// reach the table, which indexes its timeouts by state.
func (s State) Valid(proto uint8) bool {
	switch proto {
	case 6:
		return s >= StateEstablished && s <= StateSynAck
	case 17:
		return s == StateUDP
	}
	return false
}

// Active reports whether IPVS counts a conn in this state as active (ESTABLISHED only); everything else,
// UDP and ICMP included, is inactive.
func (s State) Active() bool { return s == StateEstablished }

// Embryonic reports whether a TCP conn in this state has not completed its handshake (NONE, SYN_SENT, SYN_RECV,
// SYNACK): what a spoofed SYN leaves behind. Under table pressure such conns get the short timeout and may be
// evicted (see Pressure). UDP and ICMP conns are judged by whether they were answered instead (Conn.Replied).
func (s State) Embryonic() bool {
	return s == StateNone || s == StateSynSent || s == StateSynRecv || s == StateSynAck
}

// Closing reports whether a TCP conn in this state is on its way out: one side or both sent FIN or RST.
func (s State) Closing() bool {
	switch s {
	case StateFinWait, StateTimeWait, StateClose, StateCloseWait, StateLastAck:
		return true
	}
	return false
}

// Reusable reports whether a new SYN on the tuple of a conn in this state starts a new connection that must be
// scheduled afresh rather than follow the old one (IPVS conn_reuse_mode, is_new_conn_expected): TIME_WAIT and
// CLOSE always, and FIN_WAIT for conns whose replies bypass the director (inputOnly: DR, TUN), which never see
// the server's FIN and so stay in FIN_WAIT to the end.
func (s State) Reusable(inputOnly bool) bool {
	return s == StateTimeWait || s == StateClose || (inputOnly && s == StateFinWait)
}

// Timeouts holds the idle timeout of every state.
type Timeouts struct {
	None, Established, SynSent, SynRecv, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, SynAck, UDP, ICMP time.Duration
}

// DefaultTimeouts returns the IPVS defaults (tcp_timeouts, udp_timeouts, icmp_timeouts in the kernel).
// ipvsadm --set tcp tcpfin udp sets Established, FinWait and UDP.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		None:        2 * time.Second,
		Established: 900 * time.Second,
		SynSent:     120 * time.Second,
		SynRecv:     60 * time.Second,
		FinWait:     120 * time.Second,
		TimeWait:    120 * time.Second,
		Close:       10 * time.Second,
		CloseWait:   60 * time.Second,
		LastAck:     30 * time.Second,
		Listen:      120 * time.Second,
		SynAck:      120 * time.Second,
		UDP:         300 * time.Second,
		ICMP:        60 * time.Second,
	}
}

// byState returns the timeouts as an array indexed by State.
func (to *Timeouts) byState() [numStates]time.Duration {
	return [numStates]time.Duration{
		StateNone: to.None, StateEstablished: to.Established, StateSynSent: to.SynSent, StateSynRecv: to.SynRecv,
		StateFinWait: to.FinWait, StateTimeWait: to.TimeWait, StateClose: to.Close, StateCloseWait: to.CloseWait,
		StateLastAck: to.LastAck, StateListen: to.Listen, StateSynAck: to.SynAck, StateUDP: to.UDP, StateICMP: to.ICMP,
	}
}

// merged returns to with every zero field replaced by the one in base (ipvsadm --set: 0 keeps the current value).
func (to Timeouts) merged(base Timeouts) Timeouts {
	pick := func(v, b time.Duration) time.Duration {
		if v <= 0 {
			return b
		}
		return v
	}
	return Timeouts{
		None: pick(to.None, base.None), Established: pick(to.Established, base.Established),
		SynSent: pick(to.SynSent, base.SynSent), SynRecv: pick(to.SynRecv, base.SynRecv),
		FinWait: pick(to.FinWait, base.FinWait), TimeWait: pick(to.TimeWait, base.TimeWait),
		Close: pick(to.Close, base.Close), CloseWait: pick(to.CloseWait, base.CloseWait),
		LastAck: pick(to.LastAck, base.LastAck), Listen: pick(to.Listen, base.Listen),
		SynAck: pick(to.SynAck, base.SynAck), UDP: pick(to.UDP, base.UDP), ICMP: pick(to.ICMP, base.ICMP),
	}
}

// Known reports whether s is a state this package knows; a conn in any other state (a forged sync record) times
// out at the next Expire.
func (s State) Known() bool { return s < numStates }
