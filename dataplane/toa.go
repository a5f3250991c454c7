package dataplane

import (
	"encoding/binary"

	"fastlvs/conntrack"
)

// TOA (client_address: toa), as Alibaba's LVS and DPVS send it: a TCP
// option carrying the client's port and address, which a reader on the real
// server (package toa, a sock_ops eBPF program) keeps with the socket.
//
//	kind 254, length 8:  port (2 bytes), IPv4 address (4)
//	kind 253, length 20: port (2 bytes), IPv6 address (16)
//
// The option goes into every client segment toward the real server from the
// handshake's ACK up to and including the first one carrying data: the
// server's kernel reads the ACK that completes its handshake, and when that
// ACK was lost (the client's data then completes it) or had no room, the
// data segment carries it too. Options take no sequence space, so nothing
// is shifted; the SYN/ACK's MSS is lowered by the option's length so that a
// full-sized data segment still fits. A segment whose header cannot take
// the option (40 option bytes at most) goes on without it and is counted.

const (
	toaKindIPv4 = 254
	toaKindIPv6 = 253
	toaLenIPv4  = 8
	toaLenIPv6  = 20
)

// toaLen is the option's length for a client of the family.
func toaLen(ipv6 bool) int {
	if ipv6 {
		return toaLenIPv6
	}
	return toaLenIPv4
}

// writeTOA adds the TOA option to a client segment of c.
func (w *Worker) writeTOA(c *conntrack.Conn, pkt *packet) {
	p := &pkt.hdr
	tcp := p.TCP()
	hdrLen := tcp.DataOffset()
	hasData := hdrLen < p.L4Len
	if hasData {
		c.Flags &^= connClientAddrPending // the last segment that carries it
	}
	var opt [toaLenIPv6]byte
	ipv6 := !isIPv4Mapped(&c.Client)
	n := toaLen(ipv6)
	if ipv6 {
		opt[0] = toaKindIPv6
		copy(opt[4:], c.Client[:])
	} else {
		opt[0] = toaKindIPv4
		copy(opt[4:], c.Client[12:])
	}
	opt[1] = byte(n)
	binary.BigEndian.PutUint16(opt[2:], c.ClientPort)
	if hdrLen+n > tcpMaxHeaderLen || !roomToGrow(pkt, n) {
		w.count(CountTOANoRoom)
		return
	}
	insertSegmentBytes(pkt, p.L4Off+hdrLen, opt[:n])
	tcp = p.TCP()
	tcp[tcpDataOffsetByte] = byte((hdrLen+n)/4)<<4 | tcp[tcpDataOffsetByte]&0x0f
	fixTCPChecksum(p)
	w.count(CountTOAInserted)
}

// The data offset, in the high nibble of byte 12, counts 32-bit words up to
// 15: a header of 60 bytes at most (RFC 9293).
const (
	tcpDataOffsetByte = 12
	tcpMaxHeaderLen   = 60
)

// isIPv4Mapped reports whether an As16 address is IPv4.
func isIPv4Mapped(a *[16]byte) bool {
	return a[10] == 0xff && a[11] == 0xff && *(*[10]byte)(a[:10]) == [10]byte{}
}
