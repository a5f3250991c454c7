package dataplane

import "fastlvs/conntrack"

// Tunnel (IPVS -i): the packet is encapsulated towards the real server. Not
// implemented yet: a tunnel packet is dropped as unsupported_method.

// forwardTunnel encapsulates a packet for its real server; it may grow the
// frame into the headroom before w.frameOff by setting w.txOff and w.txLen.
func (w *Worker) forwardTunnel(c *conntrack.Conn, frame []byte) (action, int) {
	return w.drop(DropUnsupportedMethod)
}
