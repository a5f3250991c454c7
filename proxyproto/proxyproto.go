// Package proxyproto encodes the PROXY protocol header (haproxy's
// proxy-protocol.txt, versions 1 and 2) that a FULLNAT director writes in
// front of a connection's first data bytes, so that the real server learns
// the client's address and port and the address the client connected to.
//
// Encoding writes into a caller's buffer and never allocates: the director
// calls it once per connection on its packet path.
package proxyproto

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Addrs is what a header tells the real server: the client (source) and the
// virtual service it connected to (destination). Addresses are in
// netip.Addr.As16 form; an IPv4-mapped source and destination make an IPv4
// header.
type Addrs struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
}

// IPv4 reports whether both addresses are IPv4 (v4-mapped).
func (a *Addrs) IPv4() bool {
	return netip.AddrFrom16(a.Src).Is4In6() && netip.AddrFrom16(a.Dst).Is4In6()
}

// Transport is the protocol a version 2 header names.
type Transport uint8

const (
	TCP Transport = 1 // SOCK_STREAM
	UDP Transport = 2 // DGRAM
)

// Maximum header lengths: what a director must keep free in a segment (and
// take off the MSS it lets the client use).
const (
	// "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
	MaxV1IPv4 = 56
	// The spec's worst case for TCP6 (full-length addresses).
	MaxV1IPv6 = 104
	// V2IPv4 and V2IPv6 are the exact version 2 lengths with the unique-id
	// TLV this package writes (signature 12, version/command 1, family 1,
	// length 2, addresses, TLV 3+8).
	V2IPv4 = 16 + 12 + uniqueIDTLVLen
	V2IPv6 = 16 + 36 + uniqueIDTLVLen
)

// MaxLen is the largest header a version writes for the address family.
func MaxLen(version int, ipv4 bool) int {
	switch {
	case version == 1 && ipv4:
		return MaxV1IPv4
	case version == 1:
		return MaxV1IPv6
	case ipv4:
		return V2IPv4
	default:
		return V2IPv6
	}
}

// v1Prefix opens every version 1 header.
const v1Prefix = "PROXY "

// EncodeV1 writes the version 1 (text) header for a TCP connection into b
// and returns its length, or 0 when b is too short (MaxV1IPv4/MaxV1IPv6
// always suffice).
func EncodeV1(b []byte, a *Addrs) int {
	ipv4 := a.IPv4()
	if len(b) < MaxLen(1, ipv4) {
		return 0
	}
	out := append(b[:0], v1Prefix...)
	if ipv4 {
		out = append(out, "TCP4 "...)
	} else {
		out = append(out, "TCP6 "...)
	}
	out = appendAddr(out, a.Src, ipv4)
	out = append(out, ' ')
	out = appendAddr(out, a.Dst, ipv4)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(a.SrcPort), 10)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(a.DstPort), 10)
	out = append(out, '\r', '\n')
	return len(out)
}

// appendAddr writes an address as version 1 wants it: dotted quad for IPv4,
// RFC 5952 text for IPv6. b has the room (checked by the caller), so the
// appends stay in its array.
func appendAddr(b []byte, addr [16]byte, ipv4 bool) []byte {
	ip := netip.AddrFrom16(addr)
	if ipv4 {
		ip = ip.Unmap()
	}
	return ip.AppendTo(b)
}

// v2Signature opens every version 2 header.
var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// Version 2 fields (proxy-protocol.txt section 2.2).
const (
	v2VersionProxy = 0x21 // version 2, command PROXY
	v2FamilyInet   = 0x10
	v2FamilyInet6  = 0x20
	// PP2_TYPE_UNIQUE_ID: an opaque id (up to 128 bytes) the sender gives
	// the connection; the same id names it in the director's records.
	tlvUniqueID    = 0x05
	uniqueIDLen    = 8
	uniqueIDTLVLen = 3 + uniqueIDLen
)

// EncodeV2 writes the version 2 (binary) header into b with a
// PP2_TYPE_UNIQUE_ID TLV carrying id, and returns its length (V2IPv4 or
// V2IPv6), or 0 when b is too short.
func EncodeV2(b []byte, a *Addrs, t Transport, id uint64) int {
	ipv4 := a.IPv4()
	n := MaxLen(2, ipv4)
	if len(b) < n {
		return 0
	}
	copy(b, v2Signature[:])
	b[12] = v2VersionProxy
	binary.BigEndian.PutUint16(b[14:], uint16(n-16))
	off := 16
	if ipv4 {
		b[13] = v2FamilyInet | byte(t)
		off += copy(b[off:], a.Src[12:])
		off += copy(b[off:], a.Dst[12:])
	} else {
		b[13] = v2FamilyInet6 | byte(t)
		off += copy(b[off:], a.Src[:])
		off += copy(b[off:], a.Dst[:])
	}
	binary.BigEndian.PutUint16(b[off:], a.SrcPort)
	binary.BigEndian.PutUint16(b[off+2:], a.DstPort)
	off += 4
	b[off] = tlvUniqueID
	binary.BigEndian.PutUint16(b[off+1:], uniqueIDLen)
	binary.BigEndian.PutUint64(b[off+3:], id)
	return n
}
