// Package header provides zero-copy typed views over packet headers and the
// RFC 1071 / RFC 1624 checksum arithmetic the dataplane rewrites need.
//
// A view is a byte slice reinterpreted as a header (type IPv4 []byte). Views
// never copy and never allocate. Accessors do not re-check bounds: call IsValid
// (or Packet.Parse, which does) before using any other method of a view.
//
// Addresses on the hot path are [16]byte in netip.Addr.As16 form; an IPv4
// address is v4-mapped (::ffff:a.b.c.d). See As16From4, Is4 and Unmap4.
//
// A NAT-style destination rewrite keeps every checksum valid without touching
// the payload:
//
//	var p header.Packet
//	if p.Parse(frame) != header.ParseOK { drop }
//	ip, tcp := p.IPv4(), p.TCP()
//	old := ip.DestinationAddress()       // copy before overwriting
//	ip.SetDestinationAddressWithChecksumUpdate(newAddr)
//	tcp.UpdateChecksumPseudoHeaderAddress(old[:], newAddr[:])
//	tcp.SetDestinationPortWithChecksumUpdate(newPort)
package header
