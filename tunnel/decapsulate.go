package tunnel

import "fastlvs/header"

// Inner finds the client's packet inside a tunnel packet whose outer IP
// payload (after the outer header) is payload and whose outer protocol is
// proto: IPIP/IPv6-in-IP (proto 4 or 41), or GUE version 0 without options
// when gue is set (payload then starts with the UDP header). It returns the
// inner packet's offset in payload and whether it is IPv6; ok is false for
// anything else (a GUE control message, options, an inner header of the
// wrong version), which the caller counts and drops.
func Inner(payload []byte, proto uint8, gue bool) (off int, inner6, ok bool) {
	if gue {
		if proto != header.ProtocolUDP || len(payload) < header.UDPMinimumSize+GUEHeaderSize {
			return 0, false, false
		}
		h := payload[header.UDPMinimumSize:]
		if h[0] != 0 { // version 0, data message, no options: what EncapsulateGUE sends
			return 0, false, false
		}
		proto, off = h[1], header.UDPMinimumSize+GUEHeaderSize
	}
	if len(payload) <= off {
		return 0, false, false
	}
	switch version := payload[off] >> 4; {
	case proto == header.ProtocolIPIP && version == 4:
		return off, false, true
	case proto == header.ProtocolIPv6 && version == 6:
		return off, true, true
	}
	return 0, false, false
}

// Decapsulate is Encapsulate undone: it drops the outer headers of the
// frame chunk[off:off+length] (outerLen bytes after the link-layer header
// of l3Off bytes), moving the link-layer header up to the inner packet and
// naming the inner family in its EtherType. It returns where the frame now
// starts in chunk and its length.
func Decapsulate(chunk []byte, off, length, l3Off, outerLen int, inner6 bool) (start, newLength int) {
	start = off + outerLen
	copy(chunk[start:start+l3Off], chunk[off:off+l3Off])
	etherType := uint16(header.EtherTypeIPv4)
	if inner6 {
		etherType = header.EtherTypeIPv6
	}
	setEtherType(chunk[start:], l3Off, etherType)
	return start, length - outerLen
}
