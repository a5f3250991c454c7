package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/proxyproto"
	"fastlvs/seqadj"
)

// The PROXY protocol header (client_address: proxy_v1 or proxy_v2):
//
//  1. The client's first segment carrying data, at sequence number S, gets
//     the header (n bytes) written between its TCP header and its payload:
//     the header takes S..S+n-1 and the payload moves up by n. From then on
//     the connection's seqadj.Adjust adds n to every client sequence number
//     toward the server and takes it off every acknowledgement and SACK
//     block toward the client (the SYN proxy's mechanism; with synproxy on
//     the service both offsets live in the one Adjust).
//  2. Until the server acknowledges S+n, the header is "unacked": S is kept
//     in the Adjust's ServerTS field (unused then: see below), and a client
//     segment starting at S again — the first data segment retransmitted,
//     because it was lost on either side of the director — gets the header
//     written again and is sent unshifted, so the server's stream is the
//     same whichever copy reaches it. The server's ACK covering the header
//     ends that state.
//
// A connection whose Adjust has a timestamp offset (SYN proxy with
// timestamps) has no field to keep S in: its header is written once, and a
// first data segment lost between the director and the real server stalls
// the connection (a retransmission is shifted, and the header is lost with
// the first copy). So does one whose first data the SYN proxy held and
// replayed. A UDP flow's every datagram carries its own v2 header.

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

// writeProxyHeaderFirst writes the header into the client's first data
// segment (step 1), already adjusted by any SYN-proxy offset, and records
// the offset.
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
	c.Flags |= connSeqAdjusted
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

// toRealHeaderUnacked adjusts a client segment while the header is unacked,
// writing the header again into a retransmitted first data segment (step 2).
func (w *Worker) toRealHeaderUnacked(c *conntrack.Conn, pkt *packet) Drop {
	adj, s := headerAdjust(c)
	tcp := pkt.hdr.TCP()
	if tcp.SequenceNumber() != s || tcpPayloadLen(&pkt.hdr) == 0 || pkt.hdr.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		adj.ToServer(tcp)
		return 0
	}
	first := adj
	first.ClientSeq = 0 // the header takes S again
	first.ToServer(tcp)
	n, drop := w.writeProxyHeader(c, pkt, s)
	if n != 0 {
		w.count(CountProxyHeadersResent)
	}
	return drop
}

// headerAcknowledged ends the unacked state once the server's segment
// acknowledges the whole header (p's acknowledgement is still in the
// server's space).
func headerAcknowledged(c *conntrack.Conn, p *header.Packet) {
	if p.TCPFlags&header.TCPFlagAck == 0 {
		return
	}
	adj, s := headerAdjust(c)
	if int32(p.TCP().AckNumber()-(s+adj.ClientSeq)) < 0 {
		return
	}
	adj.Pack(&c.Seq)
	c.Flags &^= connHeaderUnacked | connClientAddrPending
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
			c.Flags &^= connClientAddrPending
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
	if n == 0 || !w.roomToGrow(c, pkt, n) {
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
	if n == 0 || !w.roomToGrow(c, pkt, n) {
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
