// Package tunnel is fastlvs's tunnel forwarding (IPVS "Tunnel", -i): the
// director puts the client's packet, untouched and still addressed to the
// VIP, inside an outer IP header from itself to the real server (IPIP,
// protocol 4, or IPv6-in-IP, protocol 41); the real server takes the outer
// header off and answers the client directly, as in direct routing but
// across routed networks.
//
// Encapsulate is the director's per-packet half. The real server's half is
// the XDP program in decap.c (AttachDecap), for hosts whose kernel has no
// ipip or ip6_tunnel module; cmd/fastlvs-decap runs it.
package tunnel

import (
	"encoding/binary"

	"fastlvs/header"
)

// OuterTTL is the outer header's TTL (hop limit), as a host's default.
const OuterTTL = 64

// Overhead returns how many bytes the outer header towards dst adds:
// 20 for an IPv4 real server, 40 for an IPv6 one.
func Overhead(dst *[16]byte) int {
	if header.Is4(dst) {
		return header.IPv4MinimumSize
	}
	return header.IPv6MinimumSize
}

// InnerLength returns the length of the IP packet starting at l3 (its total
// length, without any Ethernet padding after it). l3 must hold a parsed,
// valid IPv4 or IPv6 header.
func InnerLength(l3 []byte) int {
	if l3[0]>>4 == 4 {
		return int(header.IPv4(l3).TotalLength())
	}
	return header.IPv6MinimumSize + int(header.IPv6(l3).PayloadLength())
}

// Encapsulate wraps the IP packet of the frame chunk[off:off+length] in an
// outer header from src to dst (v4-mapped for IPv4; both of one family),
// growing the frame into the headroom before off. l3Off is the length of
// the frame's link-layer header (VLAN tags included), which moves to the new
// front with its EtherType set for the outer header; the inner packet is
// not touched. Ethernet padding after the inner packet is cut off.
//
// It returns where the new frame starts in chunk and its length. The caller
// checks that off >= Overhead(dst) and that the inner packet is valid (as
// header.Packet.Parse leaves it). The outer IPv4 header takes id as its
// identification, the inner header's DSCP/ECN byte, and DF from the inner
// IPv4 header (always set for an inner IPv6 packet, which no router
// fragments).
func Encapsulate(chunk []byte, off, length, l3Off int, src, dst *[16]byte, id uint16) (start, newLength int) {
	inner := chunk[off+l3Off : off+length]
	innerLen := InnerLength(inner)
	proto, tos, df := innerTraits(inner)
	overhead := Overhead(dst)
	start = off - overhead
	// The link-layer header moves to the new front; regions may not overlap
	// when overhead >= l3Off, and copy handles it when they do.
	copy(chunk[start:start+l3Off], chunk[off:off+l3Off])
	outer := chunk[start+l3Off : start+l3Off+overhead]
	if overhead == header.IPv4MinimumSize {
		setEtherType(chunk[start:], l3Off, header.EtherTypeIPv4)
		writeIPv4(outer, tos, uint16(overhead+innerLen), id, df, proto, src, dst)
	} else {
		setEtherType(chunk[start:], l3Off, header.EtherTypeIPv6)
		header.IPv6(outer).Encode(&header.IPv6Fields{
			TrafficClass:  tos,
			PayloadLength: uint16(innerLen),
			NextHeader:    proto,
			HopLimit:      OuterTTL,
			Src:           *src,
			Dst:           *dst,
		})
	}
	return start, l3Off + overhead + innerLen
}

// innerTraits reads what the outer header copies from the inner one: the
// protocol number that names the inner family, its DSCP/ECN byte and
// whether it may be fragmented.
func innerTraits(inner []byte) (proto, tos uint8, df bool) {
	if inner[0]>>4 == 4 {
		ip := header.IPv4(inner)
		return header.ProtocolIPIP, ip.TOS(), ip.DontFragment()
	}
	return header.ProtocolIPv6, header.IPv6(inner).TrafficClass(), true
}

// setEtherType sets the type field that names the IP header at l3Off: the
// Ethernet header's, or the innermost VLAN tag's.
func setEtherType(frame []byte, l3Off int, etherType uint16) {
	binary.BigEndian.PutUint16(frame[l3Off-2:], etherType)
}

// writeIPv4 writes a 20-byte outer IPv4 header with its checksum. It is
// header.IPv4.Encode unrolled for the tunnel's fixed fields: summing the ten
// words directly (RFC 1071) keeps the per-packet cost to a few additions.
func writeIPv4(b []byte, tos uint8, totalLen, id uint16, df bool, proto uint8, src, dst *[16]byte) {
	_ = b[header.IPv4MinimumSize-1]
	var flags uint16
	if df {
		flags = header.IPv4FlagDontFragment << 13
	}
	b[0], b[1] = 4<<4|header.IPv4MinimumSize/4, tos
	binary.BigEndian.PutUint16(b[2:], totalLen)
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], flags)
	b[8], b[9] = OuterTTL, proto
	copy(b[12:16], src[12:16])
	copy(b[16:20], dst[12:16])
	sum := uint32(b[0])<<8 | uint32(tos)
	sum += uint32(totalLen) + uint32(id) + uint32(flags) + (uint32(OuterTTL)<<8 | uint32(proto))
	for i := 12; i < 16; i += 2 {
		sum += uint32(src[i])<<8 + uint32(src[i+1])
		sum += uint32(dst[i])<<8 + uint32(dst[i+1])
	}
	sum = sum>>16 + sum&0xffff
	sum += sum >> 16
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
}
