package tunnel

import (
	"encoding/binary"

	"fastlvs/header"
)

// GUE (Generic UDP Encapsulation, draft-ietf-intarea-gue) carries the
// client's packet as IPIP does, inside UDP: outer IP, UDP to the real
// server's GUE port, a 4-byte GUE header, the client's packet. The UDP
// source port varies per flow, so a real server's NIC spreads the flows
// over its queues (RSS hashes the outer ports), which IPIP cannot offer.
//
// The header is GUE version 0 without options, as Linux's fou module sends
// it (`ip fou add port N gue`): version 0, C 0, hlen 0, proto/ctype the
// inner protocol (4 IPv4, 41 IPv6), flags 0. Version 1 (the IP header
// directly after UDP) saves 4 bytes but only Linux receives it; version 0
// is what every GUE receiver understands. The outer UDP checksum is 0 over
// IPv4 (allowed, the inner packet has its own) and computed over IPv6,
// where a zero checksum needs the receiver's consent (RFC 6935).

// GUEHeaderSize is the size of a GUE version 0 header without options.
const GUEHeaderSize = 4

// GUEOverhead returns how many bytes GUE towards dst adds: the outer IP
// header, UDP and GUE.
func GUEOverhead(dst *[16]byte) int {
	return Overhead(dst) + header.UDPMinimumSize + GUEHeaderSize
}

// GUESourcePort maps a flow hash into the dynamic port range (49152-65535),
// as Linux's udp_flow_src_port does.
func GUESourcePort(flowHash uint64) uint16 { return 49152 | uint16(flowHash&0x3fff) }

// EncapsulateGUE is Encapsulate with a GUE header inside UDP from srcPort
// to dstPort after the outer IP header. The caller checks that
// off >= GUEOverhead(dst).
func EncapsulateGUE(chunk []byte, off, length, l3Off int, src, dst *[16]byte, id, srcPort, dstPort uint16) (start, newLength int) {
	inner := chunk[off+l3Off : off+length]
	innerLen := InnerLength(inner)
	proto, tos, df := innerTraits(inner)
	ipLen := Overhead(dst)
	udpLen := header.UDPMinimumSize + GUEHeaderSize + innerLen
	start = off - ipLen - header.UDPMinimumSize - GUEHeaderSize
	copy(chunk[start:start+l3Off], chunk[off:off+l3Off])
	outer := chunk[start+l3Off : off+l3Off]
	udp := outer[ipLen:]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	binary.BigEndian.PutUint16(udp[6:], 0)
	gue := udp[header.UDPMinimumSize:]
	gue[0], gue[1], gue[2], gue[3] = 0, proto, 0, 0
	if ipLen == header.IPv4MinimumSize {
		setEtherType(chunk[start:], l3Off, header.EtherTypeIPv4)
		writeIPv4(outer, tos, uint16(ipLen+udpLen), id, df, header.ProtocolUDP, src, dst)
	} else {
		setEtherType(chunk[start:], l3Off, header.EtherTypeIPv6)
		header.IPv6(outer).Encode(&header.IPv6Fields{
			TrafficClass:  tos,
			PayloadLength: uint16(udpLen),
			NextHeader:    header.ProtocolUDP,
			HopLimit:      OuterTTL,
			Src:           *src,
			Dst:           *dst,
		})
		datagram := chunk[off+l3Off-header.UDPMinimumSize-GUEHeaderSize : off+l3Off+innerLen]
		sum := header.Checksum(datagram, header.PseudoHeaderChecksum(header.ProtocolUDP, src[:], dst[:], uint16(udpLen)))
		if sum = ^sum; sum == 0 {
			sum = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], sum)
	}
	return start, l3Off + ipLen + udpLen
}
