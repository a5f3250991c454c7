package synproxy

import (
	"fastlvs/header"
	"fastlvs/seqadj"
)

// ServerPath is where the director's SYN to the real server goes: the
// Ethernet addresses of the hop and the IP addresses and ports the real
// server will see (client or FULLNAT local address as source).
type ServerPath struct {
	SrcMAC, DstMAC   header.MAC
	Src, Dst         [16]byte // As16 form
	SrcPort, DstPort uint16
}

// BuildServerSYN writes into buf the untagged Ethernet frame of the SYN the
// director sends the real server once a client's ACK validated, and returns
// its length (0 if buf is shorter than 14 + 80 bytes). The SYN carries the
// client's ISN and what the client offered: its MSS (capped at cfg.MSS), and,
// if negotiated, its window scale, SACK-permitted, its latest TSval and ECN.
func BuildServerSYN(buf []byte, hs *Handshake, path *ServerPath, cfg *Config) int {
	syn := segment{
		src: path.Src, dst: path.Dst,
		srcPort: path.SrcPort, dstPort: path.DstPort,
		seq:    hs.ClientISN,
		flags:  header.TCPFlagSyn,
		window: hs.synWindow(),
		ttl:    cfg.TTL,
		opts: handshakeOptions{
			mss:        min(hs.MSS, cfg.MSS),
			wscaleOK:   hs.WScaleOK,
			wscale:     hs.WScale,
			sackOK:     hs.SACKOK,
			timestamps: hs.Timestamps,
			tsVal:      hs.ClientTSVal,
		},
	}
	if hs.ECN {
		syn.flags |= header.TCPFlagEce | header.TCPFlagCwr
	}
	if len(buf) < header.EthernetMinimumSize {
		return 0
	}
	n := writeSegment(buf, header.EthernetMinimumSize, &syn)
	if n == 0 {
		return 0
	}
	eth := header.Ethernet(buf)
	eth.SetSourceAddress(path.SrcMAC)
	eth.SetDestinationAddress(path.DstMAC)
	if header.Is4(&path.Src) {
		eth.SetType(header.EtherTypeIPv4)
	} else {
		eth.SetType(header.EtherTypeIPv6)
	}
	return n
}

// synWindow is the client's window in bytes as a SYN carries it (unscaled,
// at most 65535).
func (hs *Handshake) synWindow() uint16 {
	if !hs.WScaleOK {
		return hs.ClientWindow
	}
	return uint16(min(uint32(hs.ClientWindow)<<hs.WScale, 0xffff))
}

// ServerSYNACK completes the handshake with the real server. p holds the
// server's SYN/ACK (ParseOK TCP); it returns the connection's Adjust and
// turns p, in place, into the ACK the director sends back to the server
// (MACs, addresses and ports swapped; the client's ISN+1 and TSval, the
// server's ISN+1 and TSval echoed), returning its length. The worker then
// replays the client's buffered segments through adj.ToServer; a buffered
// ACK without payload may be dropped, since this ACK stands for it. As with
// AnswerSYN, p afterwards still describes the SYN/ACK.
func ServerSYNACK(p *header.Packet, hs *Handshake, cfg *Config) (adj seqadj.Adjust, n int, r Result) {
	tcp := p.TCP()
	if tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst|header.TCPFlagFin) != header.TCPFlagSyn|header.TCPFlagAck {
		return adj, 0, NotSYNACK
	}
	if tcp.AckNumber() != hs.ClientISN+1 {
		return adj, 0, WrongServerACK
	}
	var o header.TCPOptions
	tcp.ParseOptions(&o)
	serverISN := tcp.SequenceNumber()

	adj.ServerSeq = hs.CookieISN - serverISN
	timestamps := hs.Timestamps && o.HasTimestamp
	if timestamps {
		adj.ServerTS = hs.ProxyTSVal - o.TSVal
	}
	// Window scaling holds between server and director only if both sent
	// the option (RFC 7323 section 2.2); the client was promised
	// ProxyWindowScale if it negotiated scaling with the director.
	serverScales := hs.WScaleOK && o.HasWScale
	var serverShift, promised, clientShiftSeenByServer int8
	if serverScales {
		serverShift = int8(min(o.WindowScale, header.TCPMaxWindowScale))
		clientShiftSeenByServer = int8(hs.WScale)
	}
	if hs.WScaleOK {
		promised = ProxyWindowScale
	}
	adj.ToClientWindowShift = serverShift - promised
	var clientShift int8
	if hs.WScaleOK {
		clientShift = int8(hs.WScale)
	}
	adj.ToServerWindowShift = clientShift - clientShiftSeenByServer

	ack := segment{
		src: p.Dst, dst: p.Src,
		srcPort: p.DstPort, dstPort: p.SrcPort,
		seq:    hs.ClientISN + 1,
		ack:    serverISN + 1,
		flags:  header.TCPFlagAck,
		window: seqadj.RescaleWindow(hs.ClientWindow, adj.ToServerWindowShift),
		dscp:   dscpOf(p),
		ttl:    cfg.TTL,
		opts: handshakeOptions{
			timestamps: timestamps,
			tsVal:      hs.ClientTSVal,
			tsEcr:      o.TSVal,
		},
	}
	n = writeSegment(p.Frame[:cap(p.Frame)], p.L3Off, &ack)
	if n == 0 {
		return seqadj.Adjust{}, 0, NoRoom
	}
	swapMACs(p.Frame)
	return adj, n, OK
}
