package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/tunnel"
)

// An IPv4 packet without DF that does not fit its egress port is sent as
// two fragments (leave, in egress.go, for every method). A tunnel
// fragments the inner packet, each fragment in its own tunnel packet, so
// the real server's decapsulator (fastlvs-decap, in XDP, which cannot
// reassemble) passes two ordinary fragments to its kernel. The second
// fragment stays in the packet's own frame; the first is built in the
// worker's spare frame (extraFrame) and queued just before it, on the same
// port, by poll. A fragment is cut again the same way (its offset and MF
// flag carried on). Packets over twice the room are dropped.

// extraFrame is a worker's one spare frame for a packet that process turns
// into two: fixed storage, so the split allocates nothing.
type extraFrame struct {
	buf       [handoffHeadroom + handoffFrameMax]byte
	off, size int
	port      int
	pending   bool
}

// bytes is the spare frame's content.
func (e *extraFrame) bytes() []byte { return e.buf[e.off : e.off+e.size] }

// sendExtra queues the spare frame, if process filled it, ahead of the
// packet that produced it.
func (w *Worker) sendExtra() {
	if w.extra.pending {
		w.extra.pending = false
		w.transmitCopy(w.extra.port, w.extra.bytes())
	}
}

// splitIntoExtra cuts pkt's IPv4 packet into two fragments of at most
// room bytes, the first into the spare frame, queued for port, the second
// left in pkt's frame. It reports false, the frame untouched, when two
// fragments cannot carry the packet.
func (w *Worker) splitIntoExtra(pkt *packet, room, port int) bool {
	e := &w.extra
	firstLen, secondOff, secondLen, ok := splitIPv4(pkt.frame(), pkt.hdr.L3Off, room, e.buf[handoffHeadroom:])
	if !ok {
		return false
	}
	e.off, e.size, e.port, e.pending = handoffHeadroom, firstLen, port, true
	pkt.setFrame(pkt.off+secondOff, secondLen)
	return true
}

// fragmentForTunnel sends an IPv4 packet without DF that is too large for
// the tunnel as two encapsulated fragments; it reports false, the frame
// untouched, when the packet does not qualify.
func (w *Worker) fragmentForTunnel(c *conntrack.Conn, pkt *packet, path *realPath, room int) (verdict, bool) {
	p := &pkt.hdr
	if p.IsIPv6 || p.IPv4().DontFragment() {
		return verdict{}, false
	}
	l3Off := p.L3Off
	if !w.splitIntoExtra(pkt, room, path.hop.Port) {
		return verdict{}, false
	}
	e := &w.extra
	header.Ethernet(e.bytes()).Readdress(path.hop.DstMAC, path.hop.SrcMAC)
	w.tunnel.id++
	e.off, e.size = tunnel.Encapsulate(e.buf[:], e.off, e.size, l3Off, &path.src, &c.Real, w.tunnel.id)

	header.Ethernet(pkt.frame()).Readdress(path.hop.DstMAC, path.hop.SrcMAC)
	w.tunnel.id++
	pkt.setFrame(tunnel.Encapsulate(pkt.buf, pkt.off, pkt.size, l3Off, &path.src, &c.Real, w.tunnel.id))
	w.count(CountTunnelFragmented)
	return transmitOn(path.hop.Port), true
}

// splitIPv4 cuts the IPv4 packet (or fragment) in frame (after a link-layer
// header of l3Off bytes) into two fragments of at most room bytes. The
// first, link-layer header included, is written to first (firstLen bytes);
// the second is left in frame at [secondOff, secondOff+secondLen), its
// link-layer and IP headers moved up against the rest of the payload. A
// fragment's own offset and MF flag carry on into its two. IP options are
// copied into both fragments. ok is false, frame untouched,
// when two fragments cannot carry the packet.
func splitIPv4(frame []byte, l3Off, room int, first []byte) (firstLen, secondOff, secondLen int, ok bool) {
	ip := header.IPv4(frame[l3Off:])
	hlen, total := ip.HeaderLength(), int(ip.TotalLength())
	base, more := int(ip.FragmentOffset()), ip.MoreFragments()
	cut := (room - hlen) &^ 7 // fragment offsets count 8-byte units
	if cut <= 0 || cut >= total-hlen || hlen+(total-hlen-cut) > room || l3Off+hlen+cut > len(first) {
		return 0, 0, 0, false
	}
	firstLen = copy(first, frame[:l3Off+hlen+cut])
	setFragment(header.IPv4(first[l3Off:]), hlen+cut, base, true)
	secondOff = cut
	copy(frame[secondOff:secondOff+l3Off+hlen], frame[:l3Off+hlen])
	setFragment(header.IPv4(frame[secondOff+l3Off:]), total-cut, base+cut, more)
	return firstLen, secondOff, l3Off + total - cut, true
}

// setFragment makes an IPv4 header a fragment's: its total length, offset
// (bytes) and more-fragments flag, with a fresh header checksum.
func setFragment(ip header.IPv4, totalLen, offset int, more bool) {
	ip.SetTotalLength(uint16(totalLen))
	word := uint16(offset >> 3)
	if more {
		word |= uint16(header.IPv4FlagMoreFragments) << 13
	}
	ip[6], ip[7] = byte(word>>8), byte(word)
	ip.SetChecksum(ip.CalculateChecksum())
}
