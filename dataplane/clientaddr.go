package dataplane

import (
	"fmt"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/proxyproto"
)

// Client address for FULLNAT real servers (client_address on a FULLNAT
// service). A FULLNAT real server sees the director's local address as its
// client; the director tells it the real one:
//
//  1. A new connection carries the way in Conn.Flags (connClientAddrPending).
//  2. The real server's SYN/ACK has its MSS lowered by the most the
//     connection's segments can grow, so a full-sized client segment still
//     fits the path MTU (with synproxy, the cookie SYN/ACK's MSS is lowered
//     instead: table.go).
//  3. The client's segments toward the server get the PROXY header in front
//     of the first data byte (proxyheader.go) or the TOA option (toa.go);
//     a UDP flow's every datagram gets a PROXY v2 header (proxyheader.go).
//
// process hands a connection to clientAddressToReal and clientAddressToClient
// while any of its connClientAddrState bits is set; they apply its sequence
// adjustment themselves.

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

// Conn.Flags bits 2-4 (synproxy.go owns 0-1).
const (
	// connClientAddrPending holds the connection's ClientAddress while it
	// still has to be written or, with connHeaderUnacked, resent; 0 once
	// done or when there is none.
	connClientAddrShift         = 2
	connClientAddrPending uint8 = 3 << connClientAddrShift
	// connHeaderUnacked: the PROXY header is written and the real server
	// has not acknowledged it yet; Conn.Seq's ServerTS holds the sequence
	// number the header starts at (proxyheader.go).
	connHeaderUnacked   uint8 = 1 << 4
	connClientAddrState       = connClientAddrPending | connHeaderUnacked
	// connHeaderWritten: the header went out at least once (counting only).
	connHeaderWritten uint8 = 1 << 5
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

// clientAddressToReal tells c's real server the client, in the way c still
// has to, and applies c's sequence adjustment. pkt is readdressed for the
// real server.
func (w *Worker) clientAddressToReal(c *conntrack.Conn, pkt *packet) Drop {
	switch {
	case c.Proto == header.ProtocolUDP:
		return w.writeDatagramProxyHeader(c, pkt)
	case c.Flags&connHeaderUnacked != 0:
		return w.toRealHeaderUnacked(c, pkt)
	}
	adjustSeq(c, conntrack.DirIn, &pkt.hdr)
	if pkt.hdr.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		return 0
	}
	if pendingClientAddress(c) == ClientAddressTOA {
		w.writeTOA(c, pkt)
		return 0
	}
	return w.writeProxyHeaderFirst(c, pkt)
}

// clientAddressToClient notes what a real server's segment says about the
// client address (a SYN/ACK's MSS, an acknowledged PROXY header) and applies
// c's sequence adjustment. p is readdressed for the client.
func (w *Worker) clientAddressToClient(c *conntrack.Conn, p *header.Packet) {
	if c.Flags&connHeaderUnacked != 0 {
		noteHeaderAck(c, p)
	}
	if c.Flags&connClientAddrPending != 0 {
		w.clampClientMSS(c, p)
	}
	if c.Flags&connSeqAdjusted != 0 {
		adj, _ := headerAdjust(c)
		adj.ToClient(p.TCP())
	}
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

// roomToGrow says whether pkt's frame may grow by n bytes: its buffer has
// them. The egress MTU is fitsEgress's: it has answered a packet that
// would not fit once grown, or leave fragments it (IPv4 without DF).
func roomToGrow(pkt *packet, n int) bool {
	p := &pkt.hdr
	return pkt.off+p.L4Off+p.L4Len+n <= len(pkt.buf)
}

// clientAddrGrowth is the most c's way of telling the client address may
// add to the client's packet p on its way to the real server: what
// fitsEgress leaves room for. Only a segment with data (or a datagram) can
// grow by a PROXY header; a TOA option on a bare ACK is never near the MTU,
// and one that finds its TCP header full is not added (toa.go).
func clientAddrGrowth(c *conntrack.Conn, p *header.Packet) int {
	if Method(c.Forward) != MethodFullNAT || c.Flags&connClientAddrPending == 0 {
		return 0
	}
	way := pendingClientAddress(c)
	n := clientAddrRoom(way, p.IsIPv6)
	if p.Proto == header.ProtocolTCP {
		if hdrLen := p.TCP().DataOffset(); hdrLen >= p.L4Len || way == ClientAddressTOA && hdrLen+n > tcpMaxHeaderLen {
			return 0
		}
	}
	return n
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
