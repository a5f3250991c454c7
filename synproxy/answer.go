package synproxy

import "fastlvs/header"

// AnswerSYN turns the client's SYN in p into the cookie SYN/ACK, in place,
// and returns the new frame length; the worker sends p.Frame[:n] back out
// of the port it came in on. p must be a ParseOK TCP packet. The reply may
// be longer than the SYN: it grows into cap(p.Frame), which must stop at the
// end of the frame's buffer (xsk.Socket.Frame caps it so).
//
// The reply swaps MACs (VLAN tags stay), addresses and ports; its sequence
// number is the cookie, it acknowledges the SYN, and it offers only what the
// client offered: MSS (cfg.MSS) always; timestamps with the SYN's options
// encoded in TSval and TSecr echoing the client; window scale and
// SACK-permitted only with timestamps (the cookie has nowhere else to keep
// them, as in Linux). IPv4 options and any SYN payload are dropped. No state
// is kept. Afterwards p still describes the SYN: parse the reply again if
// anything needs its views.
func AnswerSYN(p *header.Packet, s *Secrets, now Now, cfg *Config) (int, Result) {
	tcp := p.TCP()
	if tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst|header.TCPFlagFin) != header.TCPFlagSyn {
		return 0, NotSYN
	}
	var in header.TCPOptions
	tcp.ParseOptions(&in)

	flow := Flow{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	clientISN := tcp.SequenceNumber()
	clientMSS := uint16(defaultMSS4)
	if p.IsIPv6 {
		clientMSS = defaultMSS6
	}
	if in.HasMSS {
		clientMSS = in.MSS
	}
	ecn := cfg.ECN && in.HasTimestamp &&
		tcp.Flags()&(header.TCPFlagEce|header.TCPFlagCwr) == header.TCPFlagEce|header.TCPFlagCwr

	reply := segment{
		src: p.Dst, dst: p.Src,
		srcPort: p.DstPort, dstPort: p.SrcPort,
		seq:    s.Cookie(&flow, clientISN, MSSIndex(clientMSS, p.IsIPv6), now),
		ack:    clientISN + 1,
		flags:  header.TCPFlagSyn | header.TCPFlagAck,
		window: cfg.Window,
		dscp:   dscpOf(p),
		ttl:    cfg.TTL,
		opts:   handshakeOptions{mss: cfg.MSS},
	}
	if ecn {
		reply.flags |= header.TCPFlagEce
	}
	if in.HasTimestamp {
		reply.opts.timestamps = true
		reply.opts.tsVal = cookieTSVal(now.TSMillis, encodeTSOptions(in.HasWScale, in.WindowScale, in.SACKPermitted, ecn))
		reply.opts.tsEcr = in.TSVal
		reply.opts.sackOK = in.SACKPermitted
		reply.opts.wscaleOK, reply.opts.wscale = in.HasWScale, ProxyWindowScale
	}

	n := writeSegment(p.Frame[:cap(p.Frame)], p.L3Off, &reply)
	if n == 0 {
		return 0, NoRoom
	}
	swapMACs(p.Frame)
	return n, OK
}
