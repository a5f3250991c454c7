package dataplane

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink"

	"fastlvs/header"
)

// VLANs. A worker's sockets sit on the interfaces fastlvs is attached to;
// the next-hop snapshot also numbers their VLAN sub-interfaces as ports of
// their own (nexthop/vlan.go). A frame's port is its socket when untagged,
// else the sub-interface of its tag: spoofing checks, learned hops and
// answers sent back all use that port. On the way out the frame gets the tag
// of the port it leaves by, whatever it had: pushed, rewritten or popped at
// the last moment (queueTransmit, transmitCopy), so forwarded, generated and
// handed-over frames alike leave tagged right. The priority bits of a tag
// that is only rewritten stay as they came; a pushed tag has priority 0.
//
// One tag is supported: a frame with two (QinQ) is dropped as vlan_stacked,
// one whose tag names no sub-interface of its interface as vlan_unknown.

// vlanInterfaceError refuses to attach to a VLAN sub-interface: XDP there
// runs in generic mode only, behind the kernel's VLAN code, on one queue,
// and fastlvs could serve that one VLAN alone. The trunk (its parent) is
// where fastlvs attaches.
func vlanInterfaceError(vlan *netlink.Vlan) error {
	parent := fmt.Sprintf("ifindex %d", vlan.ParentIndex)
	if p, err := netlink.LinkByIndex(vlan.ParentIndex); err == nil {
		parent = p.Attrs().Name
	}
	return fmt.Errorf("interface %s is VLAN %d of %s: attach fastlvs to %s instead; its VLAN sub-interfaces become ports (trunk mode, see OPERATIONS.md)",
		vlan.Name, vlan.VlanId, parent, parent)
}

// tagged says whether a frame starts with a VLAN tag; it inlines, so an
// untagged frame pays a length and a byte compare on arrival.
func tagged(pkt *packet) bool {
	if pkt.size < header.EthernetMinimumSize {
		return false // left to the parser to drop
	}
	t := pkt.buf[pkt.off+12]
	return t == header.EtherTypeVLAN>>8 || t == header.EtherTypeQinQ>>8
}

// arriveTagged sets the port a tagged frame arrived by (pkt.inPort holds
// its socket's): its tag's VLAN port. It reports false, the drop counted,
// when the tag names none or a second tag follows.
func (w *Worker) arriveTagged(pkt *packet) bool {
	frame := pkt.frame()
	tpid := binary.BigEndian.Uint16(frame[12:])
	if !isTPID(tpid) || len(frame) < header.EthernetMinimumSize+header.VLANSize {
		return true
	}
	tag := header.VLAN(frame[header.EthernetMinimumSize:])
	if isTPID(tag.Type()) {
		w.drop(DropVLANStacked)
		return false
	}
	if tag.ID() == 0 { // priority-tagged: the interface's own traffic
		return true
	}
	port, ok := w.hop.PortOfTag(pkt.inPort, tpid, tag.ID())
	if !ok {
		w.drop(DropVLANUnknown)
		return false
	}
	pkt.inPort = port
	return true
}

func isTPID(t uint16) bool { return t == header.EtherTypeVLAN || t == header.EtherTypeQinQ }

// sendsInPlace says whether pkt, received on socket port rxSocket, can
// leave by outPort from its own frame, and if so gives it outPort's tag; it
// returns the socket outPort transmits by.
func (w *Worker) sendsInPlace(pkt *packet, rxSocket, outPort int) (socket int, ok bool) {
	socket, tpid, vlan := w.hop.Link(outPort)
	if socket != rxSocket && !w.ports[socket].sock.SharesUMEM(w.ports[rxSocket].sock) {
		return socket, false
	}
	return socket, !needsRetag(pkt.frame(), tpid, vlan) || retagInPlace(pkt, tpid, vlan)
}

// needsRetag says whether a frame's outer tag differs from (tpid, vlan);
// tpid 0 means no tag.
func needsRetag(frame []byte, tpid, vlan uint16) bool {
	if len(frame) < header.EthernetMinimumSize+header.VLANSize {
		return tpid != 0
	}
	cur := binary.BigEndian.Uint16(frame[12:])
	if !isTPID(cur) {
		return tpid != 0
	}
	return cur != tpid || header.VLAN(frame[header.EthernetMinimumSize:]).ID() != vlan
}

// retagInPlace gives the packet's frame the tag (tpid, vlan), moving the
// MAC addresses by a tag's length to push or pop one. It reports false,
// the frame untouched, when a push finds no headroom.
func retagInPlace(pkt *packet, tpid, vlan uint16) bool {
	f := pkt.frame()
	if len(f) < header.EthernetMinimumSize {
		return true
	}
	tagged := isTPID(binary.BigEndian.Uint16(f[12:])) && len(f) >= header.EthernetMinimumSize+header.VLANSize
	switch {
	case tagged && tpid != 0:
		setTag(f[12:], tpid, vlan, binary.BigEndian.Uint16(f[14:])>>13)
	case tagged: // pop: the MACs move up against the inner EtherType
		copy(f[header.VLANSize:], f[:12])
		pkt.setFrame(pkt.off+header.VLANSize, pkt.size-header.VLANSize)
	case tpid != 0: // push: the MACs move down into the headroom
		if pkt.off < header.VLANSize {
			return false
		}
		g := pkt.buf[pkt.off-header.VLANSize : pkt.off+pkt.size]
		copy(g, f[:12])
		setTag(g[12:], tpid, vlan, 0)
		pkt.setFrame(pkt.off-header.VLANSize, pkt.size+header.VLANSize)
	}
	return true
}

// copyRetagged copies frame to dst with the tag (tpid, vlan) in place of
// its own and returns the length written, 0 when dst is too small.
func copyRetagged(dst, frame []byte, tpid, vlan uint16) int {
	if !needsRetag(frame, tpid, vlan) { // the untagged two-arm director's every copy
		if len(frame) > len(dst) {
			return 0
		}
		return copy(dst, frame)
	}
	if len(frame) < header.EthernetMinimumSize {
		return 0
	}
	body, pcp := frame[12:], uint16(0) // from the (inner) EtherType on
	if isTPID(binary.BigEndian.Uint16(frame[12:])) && len(frame) >= header.EthernetMinimumSize+header.VLANSize {
		body, pcp = frame[16:], binary.BigEndian.Uint16(frame[14:])>>13
	}
	n := 12 + len(body)
	if tpid != 0 {
		n += header.VLANSize
	}
	if n > len(dst) {
		return 0
	}
	copy(dst, frame[:12])
	at := 12
	if tpid != 0 {
		setTag(dst[12:], tpid, vlan, pcp)
		at += header.VLANSize
	}
	copy(dst[at:], body)
	return n
}

// setTag writes a TPID and TCI at b.
func setTag(b []byte, tpid, vlan, pcp uint16) {
	binary.BigEndian.PutUint16(b, tpid)
	binary.BigEndian.PutUint16(b[2:], pcp<<13|vlan&0x0fff)
}
