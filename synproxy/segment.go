package synproxy

import "fastlvs/header"

// segment is a TCP segment without payload that the proxy writes: the
// SYN/ACK to a client, the SYN and the ACK to a real server.
type segment struct {
	src, dst         [16]byte // As16 form; both IPv4 or both IPv6
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint8
	window           uint16
	dscp             uint8 // IPv4 TOS / IPv6 traffic class with the ECN bits clear
	ttl              uint8 // IPv4 TTL / IPv6 hop limit
	opts             handshakeOptions
}

// writeSegment writes the IP and TCP headers of s at b[l3:], IPv4 without
// options, every checksum computed in full (the segment is at most 80
// bytes). It returns the frame length l3 + IP + TCP, or 0 if b is too short.
func writeSegment(b []byte, l3 int, s *segment) int {
	tcpLen := header.TCPMinimumSize + s.opts.size()
	ipLen := header.IPv6MinimumSize
	v4 := header.Is4(&s.src)
	if v4 {
		ipLen = header.IPv4MinimumSize
	}
	end := l3 + ipLen + tcpLen
	if l3 < 0 || end > len(b) {
		return 0
	}
	if v4 {
		header.IPv4(b[l3:]).Encode(&header.IPv4Fields{
			TOS:         s.dscp,
			TotalLength: uint16(ipLen + tcpLen),
			Flags:       header.IPv4FlagDontFragment,
			TTL:         s.ttl,
			Protocol:    header.ProtocolTCP,
			Src:         header.Unmap4(&s.src),
			Dst:         header.Unmap4(&s.dst),
		})
	} else {
		header.IPv6(b[l3:]).Encode(&header.IPv6Fields{
			TrafficClass:  s.dscp,
			PayloadLength: uint16(tcpLen),
			NextHeader:    header.ProtocolTCP,
			HopLimit:      s.ttl,
			Src:           s.src,
			Dst:           s.dst,
		})
	}
	tcp := header.TCP(b[l3+ipLen : end])
	tcp.Encode(&header.TCPFields{
		SrcPort:    s.srcPort,
		DstPort:    s.dstPort,
		SeqNum:     s.seq,
		AckNum:     s.ack,
		DataOffset: tcpLen,
		Flags:      s.flags,
		WindowSize: s.window,
	})
	s.opts.write(tcp[header.TCPMinimumSize:])
	var pseudo uint16
	if v4 {
		pseudo = header.PseudoHeaderChecksum(header.ProtocolTCP, s.src[12:], s.dst[12:], uint16(tcpLen))
	} else {
		pseudo = header.PseudoHeaderChecksum(header.ProtocolTCP, s.src[:], s.dst[:], uint16(tcpLen))
	}
	tcp.SetChecksum(^header.Checksum(tcp, pseudo))
	return end
}

// swapMACs turns a received frame's Ethernet header around.
func swapMACs(frame []byte) {
	eth := header.Ethernet(frame)
	src, dst := eth.SourceAddress(), eth.DestinationAddress()
	eth.SetSourceAddress(dst)
	eth.SetDestinationAddress(src)
}

// dscpOf returns the DSCP bits of the packet's IPv4 TOS or IPv6 traffic
// class, so a reply keeps the class of service but never claims ECN.
func dscpOf(p *header.Packet) uint8 {
	if p.IsIPv6 {
		return p.IPv6().TrafficClass() &^ 3
	}
	return p.IPv4().TOS() &^ 3
}
