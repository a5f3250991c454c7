package conntrack

// TCP header flag bits as they appear in the flags byte (offset 13) of a TCP header.
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagACK uint8 = 0x10
)

// Rows of the transition tables, in IPVS's tcp_state_idx order: RST wins over SYN, SYN over FIN, FIN over ACK.
const (
	eventSYN = iota
	eventFIN
	eventACK
	eventRST
	numEvents
)

// Table offsets, as IPVS's TCP_DIR_INPUT, TCP_DIR_OUTPUT and TCP_DIR_INPUT_ONLY.
const (
	tableInput = iota
	tableOutput
	tableInputOnly
	numTables
)

// Short names keep the tables below readable as a grid, column = current state.
const (
	sNO = StateNone
	sES = StateEstablished
	sSS = StateSynSent
	sSR = StateSynRecv
	sFW = StateFinWait
	sTW = StateTimeWait
	sCL = StateClose
	sCW = StateCloseWait
	sLA = StateLastAck
	sLI = StateListen
	sSA = StateSynAck
)

// tcpTransitions is IPVS's tcp_states (the normal, non-secure_tcp table) of ip_vs_proto_tcp.c:
// [table][event][current state] = next state.
var tcpTransitions = [numTables][numEvents][numTCPStates]State{
	tableInput: {
		//              sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA
		eventSYN: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		eventFIN: {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
		eventACK: {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		eventRST: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	},
	tableOutput: {
		eventSYN: {sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
		eventFIN: {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		eventACK: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		eventRST: {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	},
	tableInputOnly: {
		eventSYN: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		eventFIN: {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
		eventACK: {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		eventRST: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	},
}

// NextState is the IPVS TCP state machine for one packet: the state a TCP conn in state cur moves to when a packet
// with tcpFlags travels in direction dir. inputOnly selects IPVS's INPUT_ONLY table for client packets of DR/TUN
// conns, whose replies never pass the director. A packet with none of SYN, FIN, ACK, RST moves the conn to CLOSE,
// as in IPVS's set_tcp_state. Non-TCP states are returned unchanged.
func NextState(cur State, dir Dir, tcpFlags uint8, inputOnly bool) State {
	if int(cur) >= numTCPStates {
		return cur
	}
	table := tableInput
	if dir == DirOut {
		table = tableOutput
	} else if inputOnly {
		table = tableInputOnly
	}
	var event int
	switch {
	case tcpFlags&TCPFlagRST != 0:
		event = eventRST
	case tcpFlags&TCPFlagSYN != 0:
		event = eventSYN
	case tcpFlags&TCPFlagFIN != 0:
		event = eventFIN
	case tcpFlags&TCPFlagACK != 0:
		event = eventACK
	default:
		return StateClose
	}
	return tcpTransitions[table][event][cur]
}
