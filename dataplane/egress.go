package dataplane

import "fastlvs/header"

// leave is the last step of every forwarded frame, readdressed for port:
// one within the smallest port MTU (nearly all) goes as it is. A larger
// IPv4 packet without DF, which fitsEgress let through, is sent as two
// fragments: the first in the worker's spare frame, queued just before
// the second (tunnelsplit.go). What still does not fit (more than two
// fragments' worth, or a packet no check before could answer) is dropped,
// counted.
func (w *Worker) leave(pkt *packet, port int) verdict {
	if pkt.size-header.EthernetMinimumSize > w.smallestMTU {
		return w.leaveLarge(pkt, port)
	}
	return transmitOn(port)
}

// leaveLarge is leave for a frame that may exceed its port's MTU.
func (w *Worker) leaveLarge(pkt *packet, port int) verdict {
	p := &pkt.hdr
	mtu := w.hop.MTU(port)
	if pkt.size-p.L3Off <= mtu {
		return transmitOn(port)
	}
	if !p.IsIPv6 && !p.IPv4().DontFragment() && w.splitIntoExtra(pkt, mtu, port) {
		w.count(CountEgressFragmented)
		return transmitOn(port)
	}
	return w.drop(DropEgressTooLarge)
}
