package dataplane

import (
	"fmt"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/proxyproto"
	"fastlvs/seqadj"
)

// Client address for FULLNAT real servers (client_address on a FULLNAT TCP
// service). A FULLNAT real server sees the director's local address as its
// client; with proxy_v1 or proxy_v2 the director tells it the real one:
//
//  1. A new connection carries the way in Conn.Flags (connClientAddrPending).
//  2. The real server's SYN/ACK has its MSS lowered by the longest header the
//     connection can need, so every client segment still fits the path MTU
//     once the header is in front of it (with synproxy, the cookie SYN/ACK's
//     MSS is lowered likewise: table.go).
//  3. The client's first segment carrying data gets the PROXY header written
//     between its TCP header and its payload; the header occupies the
//     sequence numbers the payload had, so from then on the connection's
//     seqadj.Adjust adds the header's length to every client sequence
//     number toward the server and takes it off every acknowledgement and
//     SACK block toward the client (the SYN proxy's mechanism, synproxy.go;
//     with synproxy on the service both offsets live in the one Adjust, and
//     held segments get the header when they are replayed).
//
// The header is written once. A retransmission of the first data segment
// is shifted like every later one: the server's stream stays consistent
// when the first copy reached it (it acknowledged the header with the
// data). If that copy was lost between the director and the real server,
// the header is lost with it and the server waits for bytes no one sends:
// the connection stalls until a side times out. The director keeps no room
// in the connection record to recognize that retransmission (the record's
// spare bytes hold the Adjust), so the loss-free real-server network is
// assumed, as DPVS assumes it.

// ClientAddress is how a FULLNAT real server learns the client's address.
type ClientAddress uint8

const (
	ClientAddressNone    ClientAddress = iota
	ClientAddressProxyV1               // PROXY protocol version 1 (text) in front of the data
	ClientAddressProxyV2               // PROXY protocol version 2 (binary) in front of the data
	ClientAddressTOA                   // TCP option 254/253 in the client's first segments (toa.go)
)

var clientAddressNames = [...]string{ClientAddressNone: "none", ClientAddressProxyV1: "proxy_v1", ClientAddressProxyV2: "proxy_v2", ClientAddressTOA: "toa"}

func (a ClientAddress) String() string {
	if int(a) < len(clientAddressNames) {
		return clientAddressNames[a]
	}
	return fmt.Sprintf("client_address(%d)", a)
}

// ParseClientAddress maps a config name to a ClientAddress ("" is none).
func ParseClientAddress(name string) (ClientAddress, error) {
	if name == "" {
		return ClientAddressNone, nil
	}
	for a, n := range clientAddressNames {
		if n == name {
			return ClientAddress(a), nil
		}
	}
	return 0, fmt.Errorf("unknown client address way %q (want none, toa, proxy_v1 or proxy_v2)", name)
}

// Conn.Flags bits 2-3 (synproxy.go owns 0-1): the ClientAddress still to be
// written for the connection; 0 once written or when there is none.
const (
	connClientAddrShift         = 2
	connClientAddrPending uint8 = 3 << connClientAddrShift
)

// clientAddrFlags is what a new connection of svc starts with in Flags. A
// UDP flow (proxy_v2 only) keeps it: every datagram gets the header.
func clientAddrFlags(svc *Service) uint8 {
	if svc.Spec.Method != MethodFullNAT || (svc.Spec.Proto == ProtoUDP && svc.Spec.ClientAddress != ClientAddressProxyV2) {
		return 0
	}
	return uint8(svc.Spec.ClientAddress) << connClientAddrShift & connClientAddrPending
}

// pendingClientAddress is the way c still has to tell its real server.
func pendingClientAddress(c *conntrack.Conn) ClientAddress {
	return ClientAddress((c.Flags & connClientAddrPending) >> connClientAddrShift)
}

// clientAddrRoom is how many bytes the connection's header can take: what
// its SYN/ACK's MSS gives up.
func clientAddrRoom(way ClientAddress, ipv6 bool) int {
	switch way {
	case ClientAddressTOA:
		return toaLen(ipv6)
	case ClientAddressProxyV1:
		return proxyproto.MaxLen(1, !ipv6)
	}
	return proxyproto.MaxLen(2, !ipv6)
}

// clampClientMSS lowers the MSS a real server's SYN/ACK offers the client
// (step 2). p is already readdressed for the client.
func (w *Worker) clampClientMSS(c *conntrack.Conn, p *header.Packet) {
	if p.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn|header.TCPFlagAck {
		return
	}
	tcp := p.TCP()
	mss, ok := tcp.MSS()
	room := clientAddrRoom(pendingClientAddress(c), p.IsIPv6)
	if !ok || int(mss) <= room+minClampedMSS {
		return
	}
	tcp.SetMSSWithChecksumUpdate(mss - uint16(room))
	w.count(CountMSSClamped)
}

// minClampedMSS keeps a clamped MSS usable (RFC 9293's IPv4 default 536
// minus the largest header).
const minClampedMSS = 400

// writeClientAddress tells c's real server the client, in the way c still
// has to (step 3, and toa.go). pkt is readdressed for the real server and
// adjusted by any earlier Adjust, which a PROXY header extends.
func (w *Worker) writeClientAddress(c *conntrack.Conn, ref conntrack.Ref, pkt *packet) Drop {
	if c.Proto == header.ProtocolUDP {
		return w.writeDatagramProxyHeader(c, ref, pkt)
	}
	if pkt.hdr.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		return 0
	}
	way := pendingClientAddress(c)
	if way == ClientAddressTOA {
		w.writeTOA(c, pkt)
		return 0
	}
	n, drop := w.writeProxyHeader(c, ref, pkt, way)
	if n > 0 {
		var adj seqadj.Adjust
		if c.Flags&connSeqAdjusted != 0 {
			adj = seqadj.Unpack(&c.Seq)
		}
		adj.ClientSeq += uint32(n)
		adj.Pack(&c.Seq)
		c.Flags = c.Flags&^connClientAddrPending | connSeqAdjusted
		w.publishSync(c) // the peer must shift this connection too
	}
	return drop
}

// writeClientAddressHeld is writeClientAddress for a client segment the SYN
// proxy held and now replays (its frame is buf[:size], parsed as hp), while
// the connection's Adjust is still adj, not yet packed into c. It returns
// the frame's new size, or 0 when the segment must drop (counted).
func (w *Worker) writeClientAddressHeld(c *conntrack.Conn, buf []byte, size int, hp *header.Packet, adj *seqadj.Adjust) int {
	pkt := packet{buf: buf, size: size, hdr: *hp}
	way := pendingClientAddress(c)
	switch {
	case pkt.hdr.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0:
	case way == ClientAddressTOA:
		w.writeTOA(c, &pkt)
	default:
		n, drop := w.writeProxyHeader(c, 0, &pkt, way)
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

// writeProxyHeader writes the PROXY header in front of the data of the
// client's first data segment (step 3) and returns its length. A segment
// without data passes unchanged (0); one that cannot grow is to be dropped
// (the client retransmits it, and the clamped MSS makes that rare).
func (w *Worker) writeProxyHeader(c *conntrack.Conn, ref conntrack.Ref, pkt *packet, way ClientAddress) (int, Drop) {
	p := &pkt.hdr
	dataOff := p.L4Off + p.TCP().DataOffset()
	if dataOff == p.L4Off+p.L4Len {
		return 0, 0
	}
	var hdr [proxyproto.MaxV1IPv6]byte
	addrs := proxyproto.Addrs{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort}
	var n int
	if way == ClientAddressProxyV1 {
		n = proxyproto.EncodeV1(hdr[:], &addrs)
	} else {
		id := uint64(w.ID)<<56 | uint64(ref)<<24 | w.tally.counts[CountProxyHeaders]&0xffffff
		n = proxyproto.EncodeV2(hdr[:], &addrs, proxyproto.TCP, id)
	}
	if n == 0 || !w.roomToGrow(c, pkt, n) {
		return 0, DropClientAddrNoRoom
	}
	insertSegmentBytes(pkt, dataOff, hdr[:n])
	fixTCPChecksum(p)
	w.count(CountProxyHeaders)
	return n, 0
}

// writeDatagramProxyHeader writes a PROXY v2 header (DGRAM) in front of the
// payload of every datagram of a UDP flow toward its real server, as
// dnsdist and PowerDNS read it (the spec leaves datagrams to the
// application: each one stands alone). The UDP checksum is recomputed over
// the datagram (an IPv4 datagram without one stays without).
func (w *Worker) writeDatagramProxyHeader(c *conntrack.Conn, ref conntrack.Ref, pkt *packet) Drop {
	p := &pkt.hdr
	var hdr [proxyproto.V2IPv6]byte
	addrs := proxyproto.Addrs{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort}
	id := uint64(w.ID)<<56 | uint64(ref)<<24 | w.tally.counts[CountProxyHeaders]&0xffffff
	n := proxyproto.EncodeV2(hdr[:], &addrs, proxyproto.UDP, id)
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

// roomToGrow says whether pkt's frame may grow by n bytes: its buffer has
// them and the egress MTU toward c's real server allows them.
func (w *Worker) roomToGrow(c *conntrack.Conn, pkt *packet, n int) bool {
	p := &pkt.hdr
	end := p.L4Off + p.L4Len
	mtu := 0
	if path, _ := w.pathToReal(c); path != nil {
		mtu = path.mtu
	}
	return pkt.off+end+n <= len(pkt.buf) && (mtu == 0 || end-p.L3Off+n <= mtu)
}

// insertSegmentBytes writes b into pkt's frame at offset at (among the TCP
// options or before the payload), moving the rest of the segment up, and
// fixes the IP length; roomToGrow said there is room. The caller fixes the
// TCP checksum (fixTCPChecksum) once the header says what it must.
func insertSegmentBytes(pkt *packet, at int, b []byte) {
	p := &pkt.hdr
	n := len(b)
	end := p.L4Off + p.L4Len
	frame := pkt.buf[pkt.off : pkt.off+end+n]
	copy(frame[at+n:], frame[at:end])
	copy(frame[at:], b)
	pkt.setFrame(pkt.off, end+n)
	p.Frame = frame
	p.L4Len += n
	growIPLength(p, n)
}

// fixTCPChecksum recomputes the TCP checksum over the whole segment: the
// slow way, for segments changed once or twice per connection.
func fixTCPChecksum(p *header.Packet) {
	tcp := p.TCP()
	tcp.SetChecksum(0)
	tcp.SetChecksum(tcp.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP,
		addrBytes(&p.Src, p.IsIPv6), addrBytes(&p.Dst, p.IsIPv6), uint16(p.L4Len))))
}

// growIPLength adds n bytes to the IP header's length field (and fixes an
// IPv4 header checksum).
func growIPLength(p *header.Packet, n int) {
	if p.IsIPv6 {
		ip := header.IPv6(p.Frame[p.L3Off:])
		ip.SetPayloadLength(ip.PayloadLength() + uint16(n))
		return
	}
	ip := header.IPv4(p.Frame[p.L3Off:])
	ip.SetTotalLength(ip.TotalLength() + uint16(n))
	ip.SetChecksum(ip.CalculateChecksum())
}

// addrBytes is an address as its IP header holds it.
func addrBytes(a *[16]byte, ipv6 bool) []byte {
	if ipv6 {
		return a[:]
	}
	return a[12:]
}
