package nat

import (
	"encoding/binary"

	"fastlvs/header"
)

// ICMP errors (RFC 792, RFC 4443) quote the packet that caused them: its IP
// header and at least the first 8 bytes of its payload, enough for the ports
// of TCP and UDP. A director that rewrote that packet must rewrite the quote
// back the same way, or the endpoint that receives the error cannot match it
// to a socket; and every checksum the quote touches must follow: the quoted
// IPv4 header's, the quoted transport checksum where the quote holds it, and
// the ICMP checksum over the whole message.
//
// The quoted transport header may be cut after 8 bytes (IPv4 routers quote
// no more). UDP's checksum is within them (offset 6); TCP's is at offset 16,
// so a short TCP quote keeps its stale checksum: nobody checks a quoted
// checksum, the ports are what matter.

// Quote is the invoking packet of an ICMP error, in place in its frame.
type Quote struct {
	msg    []byte // the whole ICMP message
	ip     []byte // the quoted IP header and what follows of the packet
	hdrLen int    // quoted IP header length
	IsIPv6 bool
	Proto  uint8
	Src    [16]byte // As16 form, as header.Packet
	Dst    [16]byte
	// SrcPort and DstPort are the quoted packet's ports (it travelled
	// Src:SrcPort → Dst:DstPort).
	SrcPort, DstPort uint16
}

// quotedL4Min is the least transport header a usable quote carries.
const quotedL4Min = 8

// ParseQuote reads the TCP or UDP packet quoted by the ICMP error msg (the
// ICMP header and the rest of the message) of family v6. It reports false
// for anything else: a quote too short for the ports, another transport, a
// non-first fragment, IPv6 extension headers, the other family.
func ParseQuote(msg []byte, v6 bool) (Quote, bool) {
	if len(msg) < header.ICMPMinimumSize {
		return Quote{}, false
	}
	q := Quote{msg: msg, ip: msg[header.ICMPMinimumSize:], IsIPv6: v6}
	if v6 {
		ip := header.IPv6(q.ip)
		if len(ip) < header.IPv6MinimumSize+quotedL4Min || ip[0]>>4 != 6 {
			return Quote{}, false
		}
		q.hdrLen = header.IPv6MinimumSize
		q.Proto = ip.NextHeader()
		q.Src, q.Dst = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv4(q.ip)
		if len(ip) < header.IPv4MinimumSize || ip[0]>>4 != 4 {
			return Quote{}, false
		}
		q.hdrLen = ip.HeaderLength()
		if q.hdrLen < header.IPv4MinimumSize || len(ip) < q.hdrLen+quotedL4Min || ip.FragmentOffset() != 0 {
			return Quote{}, false
		}
		q.Proto = ip.Protocol()
		q.Src = header.As16From4(ip.SourceAddress())
		q.Dst = header.As16From4(ip.DestinationAddress())
	}
	if q.Proto != header.ProtocolTCP && q.Proto != header.ProtocolUDP {
		return Quote{}, false
	}
	l4 := q.ip[q.hdrLen:]
	q.SrcPort = binary.BigEndian.Uint16(l4[0:])
	q.DstPort = binary.BigEndian.Uint16(l4[2:])
	return q, true
}

// Where the quoted transport checksums sit, and how much of the quoted
// transport header a rewrite may touch (TCP's checksum ends at 18).
const (
	quotedUDPChecksum = 6
	quotedTCPChecksum = 16
	quotedL4Touched   = 18
)

// Rewrite sets the quoted packet's endpoints to src:sport → dst:dport,
// fixing the quoted IPv4 header checksum, the quoted transport checksum
// where the quote holds it, and the ICMP checksum (which covers the quote).
// src and dst must be of the quote's family.
func (q *Quote) Rewrite(src *[16]byte, sport uint16, dst *[16]byte, dport uint16) {
	l4 := q.ip[q.hdrLen:]
	// Every byte the rewrite changes lies in this 2-byte aligned span (the
	// quote starts 8 bytes into the message): its sum before and after
	// updates the ICMP checksum in one step (RFC 1624).
	span := q.ip[:(q.hdrLen+min(len(l4), quotedL4Touched))&^1]
	before := header.Checksum(span, 0)

	var addrs [32]byte
	var old, next []byte
	if q.IsIPv6 {
		old = q.ip[8:40]
		copy(addrs[:16], src[:])
		copy(addrs[16:], dst[:])
		next = addrs[:32]
	} else {
		ip := header.IPv4(q.ip)
		old = q.ip[12:20]
		copy(addrs[:4], src[12:])
		copy(addrs[4:8], dst[12:])
		next = addrs[:8]
		ip.SetChecksum(header.ChecksumUpdate2ByteAligned(ip.Checksum(), old, next))
	}
	var ports [4]byte
	binary.BigEndian.PutUint16(ports[0:], sport)
	binary.BigEndian.PutUint16(ports[2:], dport)
	switch {
	case q.Proto == header.ProtocolTCP && len(l4) >= quotedTCPChecksum+2:
		updateQuotedChecksum(l4[quotedTCPChecksum:], old, next, l4[:4], ports[:], false)
	case q.Proto == header.ProtocolUDP:
		updateQuotedChecksum(l4[quotedUDPChecksum:], old, next, l4[:4], ports[:], true)
	}
	copy(old, next)
	copy(l4[:4], ports[:])
	q.Src, q.SrcPort, q.Dst, q.DstPort = *src, sport, *dst, dport

	icmp := header.ICMPv4(q.msg) // the checksum sits alike in ICMPv6
	icmp.SetChecksum(header.ChecksumUpdateUint16(icmp.Checksum(), before, header.Checksum(span, 0)))
}

// updateQuotedChecksum folds an address pair and a port pair change into
// the transport checksum at field. A UDP checksum of 0 (none) stays 0.
func updateQuotedChecksum(field, oldAddrs, newAddrs, oldPorts, newPorts []byte, udp bool) {
	xsum := binary.BigEndian.Uint16(field)
	if udp && xsum == 0 {
		return
	}
	xsum = header.ChecksumUpdate2ByteAligned(xsum, oldAddrs, newAddrs)
	xsum = header.ChecksumUpdate2ByteAligned(xsum, oldPorts, newPorts)
	if udp && xsum == 0 {
		xsum = 0xffff
	}
	binary.BigEndian.PutUint16(field, xsum)
}

// SetICMPAddresses sets the outer source and destination of the ICMP
// message p (parsed as ICMP or ICMPv6), fixing the IPv4 header checksum or
// the ICMPv6 checksum, whose pseudo-header holds the addresses.
func SetICMPAddresses(p *header.Packet, src, dst *[16]byte) {
	if p.IsIPv6 {
		ip := p.IPv6()
		icmp := p.ICMPv6()
		old := ip[8:40]
		var next [32]byte
		copy(next[:16], src[:])
		copy(next[16:], dst[:])
		icmp.SetChecksum(header.ChecksumUpdate2ByteAligned(icmp.Checksum(), old, next[:]))
		copy(old, next[:])
	} else {
		ip := p.IPv4()
		ip.SetSourceAddressWithChecksumUpdate(header.Unmap4(src))
		ip.SetDestinationAddressWithChecksumUpdate(header.Unmap4(dst))
	}
	p.Src, p.Dst = *src, *dst
}
