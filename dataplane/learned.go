package dataplane

import (
	"fastlvs/header"
)

// A client's first connection is answered before the kernel's neighbour
// entry for it (made when the client's ARP reached the director) shows up in
// the next-hop snapshot, which is rebuilt within tens of milliseconds. To not
// drop that first reply (and cost the client a one-second SYN-ACK
// retransmit), a worker remembers the Ethernet source of the packet that
// opened a connection — the client's next hop, when routing is symmetric —
// and uses it only when the snapshot has no answer yet.

const learnedSlots = 1024 // direct-mapped by address hash; a power of two

type learnedHop struct {
	addr [16]byte
	mac  header.MAC
	port int
	set  bool
}

// learnSource records the source MAC of a packet as the way back to its
// source address, when it came in by the port the route back leaves by: a
// packet forged on another side must not steer replies to its sender.
func (w *Worker) learnSource(pkt *packet) {
	if port, ok := w.hop.PortOf(pkt.hdr.Src); !ok || port != pkt.inPort {
		return
	}
	slot := &w.learned[learnedSlot(&pkt.hdr.Src)]
	slot.addr, slot.mac, slot.port, slot.set = pkt.hdr.Src, header.Ethernet(pkt.frame()).SourceAddress(), pkt.inPort, true
}

// transmitLearned sends the packet to dst's learned next hop, if there is one.
func (w *Worker) transmitLearned(dst *[16]byte, pkt *packet) (verdict, bool) {
	slot := &w.learned[learnedSlot(dst)]
	if !slot.set || slot.addr != *dst {
		return verdict{}, false
	}
	header.Ethernet(pkt.frame()).Readdress(slot.mac, w.hop.PortMAC(slot.port))
	w.count(CountLearnedHops)
	return w.leave(pkt, slot.port), true
}

func learnedSlot(a *[16]byte) uint32 {
	h := uint32(a[12])<<24 | uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15])
	h ^= uint32(a[8])<<24 | uint32(a[9])<<16 | uint32(a[10])<<8 | uint32(a[11])
	return (h * 0x9e3779b1) >> 22 & (learnedSlots - 1)
}
