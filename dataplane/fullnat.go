package dataplane

import "fastlvs/conntrack"

// FULLNAT: the client is rewritten to a local address:port of the director,
// so real servers need no route back through it. Not implemented yet: every
// hook refuses, and a FULLNAT packet is dropped as unsupported_method.

// isLocalAddress says whether a is one of the table's FULLNAT local
// addresses (replies to it belong to the worker named by the port).
func (t *Table) isLocalAddress(a *[16]byte) bool { return false }

// bindLocal gives c a local address and a port from this worker's share.
func (w *Worker) bindLocal(svc *Service, c *conntrack.Conn) bool { return false }

// releaseLocal returns c's local port to this worker's pool.
func (w *Worker) releaseLocal(c *conntrack.Conn) {}

// forwardFullNAT rewrites both ends of a FULLNAT packet.
func (w *Worker) forwardFullNAT(c *conntrack.Conn, dir conntrack.Dir, frame []byte) (action, int) {
	return w.drop(DropUnsupportedMethod)
}
