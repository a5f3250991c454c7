package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/proxyproto"
	"fastlvs/seqadj"
)

// The PROXY protocol header (client_address: proxy_v1 or proxy_v2), n
// bytes written in front of the client's first data byte:
//
//  1. A connection opened by the client's SYN (ISN) knows from the start
//     where its stream begins, S = ISN+1, and how long its header is. Its
//     seqadj.Adjust adds n to every client sequence number toward the server
//     and takes it off every acknowledgement and SACK block toward the
//     client (the SYN proxy's mechanism); S is kept in the Adjust's ServerTS
//     field, which only the SYN proxy uses, while the header is
//     "unacked" (connHeaderUnacked).
//  2. Until the server acknowledges S+n, client segments are placed around
//     the header: one starting at S with data gets the header written in
//     front of its payload and goes unshifted (the header takes S..S+n-1,
//     the payload follows) — the first data segment, or its retransmission
//     when a copy was lost on either side of the director; one starting at
//     S without data (the handshake's ACK) or before it (a retransmitted
//     SYN) goes unshifted; one after S is shifted, so data the client sent
//     later and that overtook the first segment lands behind the header.
//     The server's acknowledgements below S+n (the SYN/ACK's, duplicates
//     while the header is missing) reach the client as S.
//  3. The server's acknowledgement of S+n ends the unacked state; from then
//     on every segment is shifted.
//
// A connection opened otherwise — by the SYN proxy (its Adjust is fixed by
// the server's SYN/ACK, and with timestamps has no field left for S) or by
// sloppy_tcp from a mid-stream segment — writes the header into the first
// segment carrying data, and keeps the unacked state from then on if its
// Adjust has no timestamp offset; with one, a first copy lost between the
// director and the real server stalls the connection, and segments that
// overtake it get no header. A UDP flow's every datagram carries its own v2
// header.

// startClientAddress gives a new connection of svc its client-address
// state (step 1 for a connection opened by a SYN). p is its first packet.
func startClientAddress(svc *Service, c *conntrack.Conn, p *header.Packet) {
	c.Flags |= clientAddrFlags(svc)
	way := pendingClientAddress(c)
	if c.Proto != header.ProtocolTCP || (way != ClientAddressProxyV1 && way != ClientAddressProxyV2) ||
		p.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn {
		return
	}
	adj := seqadj.Adjust{ClientSeq: uint32(proxyHeaderLen(c, way)), ServerTS: p.TCP().SequenceNumber() + 1}
	adj.Pack(&c.Seq)
	c.Flags |= connSeqAdjusted | connHeaderUnacked
}

// proxyHeaderLen is the length of c's header.
func proxyHeaderLen(c *conntrack.Conn, way ClientAddress) int {
	addrs := proxyproto.Addrs{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort}
	if way == ClientAddressProxyV2 {
		return proxyproto.MaxLen(2, addrs.IPv4())
	}
	var hdr [proxyproto.MaxV1IPv6]byte
	return proxyproto.EncodeV1(hdr[:], &addrs)
}

// headerAdjust is c's sequence adjustment and, while the header is unacked,
// the sequence number S the header starts at.
func headerAdjust(c *conntrack.Conn) (seqadj.Adjust, uint32) {
	adj := seqadj.Unpack(&c.Seq)
	if c.Flags&connHeaderUnacked == 0 {
		return adj, 0
	}
	s := adj.ServerTS
	adj.ServerTS = 0
	return adj, s
}

// writeProxyHeaderFirst writes the header into the first data segment of a
// connection that did not start with a SYN, already adjusted by any
// SYN-proxy offset, and records the offset.
func (w *Worker) writeProxyHeaderFirst(c *conntrack.Conn, pkt *packet) Drop {
	seq := pkt.hdr.TCP().SequenceNumber()
	n, drop := w.writeProxyHeader(c, pkt, seq)
	if n == 0 {
		return drop
	}
	var adj seqadj.Adjust
	if c.Flags&connSeqAdjusted != 0 {
		adj = seqadj.Unpack(&c.Seq)
	}
	adj.ClientSeq += uint32(n)
	c.Flags |= connSeqAdjusted | connHeaderWritten
	if adj.ServerTS == 0 {
		adj.ServerTS = seq
		c.Flags |= connHeaderUnacked
	} else {
		c.Flags &^= connClientAddrPending
	}
	adj.Pack(&c.Seq)
	w.publishSync(c) // the peer must shift this connection too
	return 0
}

// toRealHeaderUnacked places a client segment around the unacked header
// (step 2).
func (w *Worker) toRealHeaderUnacked(c *conntrack.Conn, pkt *packet) Drop {
	adj, s := headerAdjust(c)
	p := &pkt.hdr
	tcp := p.TCP()
	if int32(tcp.SequenceNumber()-s) > 0 {
		adj.ToServer(tcp)
		return 0
	}
	unshifted := adj
	unshifted.ClientSeq = 0 // the header's length: the SYN proxy never offsets the client's space
	unshifted.ToServer(tcp)
	if tcp.SequenceNumber() != s || tcpPayloadLen(p) == 0 || p.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		return 0
	}
	n, drop := w.writeProxyHeader(c, pkt, s)
	if n != 0 {
		if c.Flags&connHeaderWritten != 0 {
			w.count(CountProxyHeadersResent)
		}
		c.Flags |= connHeaderWritten
	}
	return drop
}

// noteHeaderAck ends the unacked state once the server's segment
// acknowledges the whole header (step 3), or else makes an acknowledgement
// short of it reach the client as S. p's acknowledgement is still in the
// server's space.
func noteHeaderAck(c *conntrack.Conn, p *header.Packet) {
	if p.TCPFlags&header.TCPFlagAck == 0 {
		return
	}
	adj, s := headerAdjust(c)
	n := adj.ClientSeq // the header's length
	tcp := p.TCP()
	switch ack := tcp.AckNumber(); {
	case int32(ack-(s+n)) >= 0:
		adj.Pack(&c.Seq)
		c.Flags &^= connHeaderUnacked | connClientAddrPending | connHeaderWritten
	case int32(ack-s) >= 0:
		tcp.SetAckNumberWithChecksumUpdate(s + n) // ToClient takes n off
	}
}

// writeProxyHeaderHeld writes the header into a client segment the SYN
// proxy held and now replays (its frame is buf[:size], parsed as hp, and
// adjusted by adj, which is not yet packed into c). It returns the frame's
// new size, or 0 when the segment must drop (counted).
func (w *Worker) writeProxyHeaderHeld(c *conntrack.Conn, buf []byte, size int, hp *header.Packet, adj *seqadj.Adjust) int {
	pkt := packet{buf: buf, size: size, hdr: *hp}
	switch {
	case pkt.hdr.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0:
	case pendingClientAddress(c) == ClientAddressTOA:
		w.writeTOA(c, &pkt)
	default:
		n, drop := w.writeProxyHeader(c, &pkt, pkt.hdr.TCP().SequenceNumber())
		if drop != 0 {
			w.drop(drop)
			return 0
		}
		if n > 0 {
			adj.ClientSeq += uint32(n)
			c.Flags = c.Flags&^connClientAddrPending | connHeaderWritten
		}
	}
	*hp = pkt.hdr
	return pkt.size
}

// writeProxyHeader writes c's header in front of pkt's data and returns its
// length. A segment without data passes unchanged (0); one that cannot grow
// is to be dropped (the client retransmits it, and the clamped MSS makes
// that rare). The v2 unique id is the worker, the local port and the
// sequence number the header starts at: the same when it is written again.
func (w *Worker) writeProxyHeader(c *conntrack.Conn, pkt *packet, seq uint32) (int, Drop) {
	p := &pkt.hdr
	dataOff := p.L4Off + p.TCP().DataOffset()
	if dataOff == p.L4Off+p.L4Len {
		return 0, 0
	}
	var hdr [proxyproto.MaxV1IPv6]byte
	addrs := proxyproto.Addrs{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort}
	var n int
	if pendingClientAddress(c) == ClientAddressProxyV1 {
		n = proxyproto.EncodeV1(hdr[:], &addrs)
	} else {
		n = proxyproto.EncodeV2(hdr[:], &addrs, proxyproto.TCP, w.proxyHeaderID(c, seq))
	}
	if n == 0 || !roomToGrow(pkt, n) {
		return 0, DropClientAddrNoRoom
	}
	insertSegmentBytes(pkt, dataOff, hdr[:n])
	fixTCPChecksum(p)
	w.count(CountProxyHeaders)
	return n, 0
}

// proxyHeaderID is the PP2_TYPE_UNIQUE_ID of c's header.
func (w *Worker) proxyHeaderID(c *conntrack.Conn, seq uint32) uint64 {
	return uint64(w.ID)<<56 | uint64(c.LocalPort)<<32 | uint64(seq)
}

// writeDatagramProxyHeader writes a PROXY v2 header (DGRAM) in front of the
// payload of every datagram of a UDP flow toward its real server, as
// dnsdist and PowerDNS read it (the spec leaves datagrams to the
// application: each one stands alone). The UDP checksum is recomputed over
// the datagram (an IPv4 datagram without one stays without).
func (w *Worker) writeDatagramProxyHeader(c *conntrack.Conn, pkt *packet) Drop {
	p := &pkt.hdr
	var hdr [proxyproto.V2IPv6]byte
	addrs := proxyproto.Addrs{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort}
	n := proxyproto.EncodeV2(hdr[:], &addrs, proxyproto.UDP, w.proxyHeaderID(c, uint32(w.tally.counts[CountProxyHeaders])))
	if n == 0 || !roomToGrow(pkt, n) {
		return DropClientAddrNoRoom
	}
	insertSegmentBytes(pkt, p.L4Off+header.UDPMinimumSize, hdr[:n])
	udp := p.UDP()
	udp.SetLength(udp.Length() + uint16(n))
	if udp.Checksum() != 0 || p.IsIPv6 {
		udp.SetChecksum(0)
		udp.SetChecksum(udp[:udp.Length()].CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP,
			addrBytes(&p.Src, p.IsIPv6), addrBytes(&p.Dst, p.IsIPv6), udp.Length())))
	}
	w.count(CountProxyHeaders)
	return 0
}
