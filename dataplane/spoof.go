package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
)

// Spoofed sources. A director at the edge sees packets from anyone, so it
// checks the two sources that only it or its real servers may use:
//
//   - A reply to a NAT or FULLNAT connection must come from where the
//     connection's real server is: the port its path leaves by, and when the
//     real server is on-link, its own MAC (behind a router any of the
//     router's MACs may carry it, so only the port is checked). A packet
//     from a client that forged a real server's address and ports would
//     otherwise be translated into the client's connection.
//   - A new connection never comes from a VIP or a FULLNAT local address:
//     those are the director's own.
//
// Each refusal is counted (spoofed_reply, spoofed_source).

// fromItsRealServer says whether a reply to c arrived the way c's real
// server's packets come. A path not resolved yet cannot be checked and
// passes.
func (w *Worker) fromItsRealServer(c *conntrack.Conn, pkt *packet) bool {
	path, _ := w.pathToReal(c)
	if path == nil {
		return true
	}
	if pkt.inPort != path.hop.Port {
		return false
	}
	return !path.hop.OnLink || header.Ethernet(pkt.frame()).SourceAddress() == path.hop.DstMAC
}

// ownSource says whether a packet claims a source only the director uses.
func (t *Table) ownSource(src *[16]byte) bool {
	return t.isVIP(src) || t.isLocalAddress(src)
}
