package dataplane

import (
	"slices"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// Which worker owns a connection, whatever queue its packets arrive on:
//
//   - a packet to a VIP: a keyed hash of the client address under its
//     service's persistence mask (the whole address without one), so every
//     connection that may share a persistence template meets on one worker;
//   - a FULLNAT reply: its local port (lport % workers), chosen by the owner;
//   - a NAT reply from a real server: the same hash of the destination (the
//     client) under the mask of a service the real server is in. A real
//     server in services with different masks has several candidates; a
//     worker that does not find the connection passes the reply on to the
//     next candidate (packet.tries);
//   - a later fragment of a datagram (no ports): the worker its fragment
//     owner hash names, which the first fragment's owner tells the
//     connection's decision (fragment.go).
//
// The mask is a service's own, so adding, editing or removing one service
// moves no other service's clients between workers.

// maxOwnerHops bounds how often one packet is handed between workers, so a
// table swap that workers see at different batches cannot bounce it forever.
const maxOwnerHops = 4

// replyKey names a real server for NAT replies: its address and protocol
// (a service's real port may be 0, "the VIP's port").
type replyKey struct {
	addr  [16]byte
	proto uint8
}

// owners is a table's ownership picture.
type owners struct {
	hash conntrack.Hasher // keyed with a secret
	// replyBits lists, finest first, the distinct persistence masks (in
	// 16-byte form) of the NAT services of each real server whose masks are
	// not all the whole address; any other real server's replies hash the
	// whole client address.
	replyBits map[replyKey][]uint8
}

func buildOwners(services []Service, hash conntrack.Hasher) owners {
	o := owners{hash: hash}
	all := map[replyKey][]uint8{}
	for i := range services {
		svc := &services[i]
		if svc.Spec.Method != MethodNAT {
			continue
		}
		for _, r := range svc.reals {
			k := replyKey{addr: r.Addr, proto: svc.Spec.Proto}
			if !slices.Contains(all[k], uint8(svc.persistBits)) {
				all[k] = append(all[k], uint8(svc.persistBits))
			}
		}
	}
	for k, bits := range all {
		if len(bits) == 1 && bits[0] == 128 {
			continue
		}
		slices.Sort(bits)
		slices.Reverse(bits)
		if o.replyBits == nil {
			o.replyBits = map[replyKey][]uint8{}
		}
		o.replyBits[k] = bits
	}
	return o
}

// ownerOf is the worker owning the connections of client, masked to bits.
func (o *owners) ownerOf(client *[16]byte, bits, workers int) int {
	return int(o.hash.Addr(maskAddr(*client, bits)) % uint64(workers))
}

// replyOwner is the worker to try for a NAT reply on its tries-th attempt;
// ok is false once every candidate has been tried.
func (o *owners) replyOwner(p *header.Packet, tries uint8, workers int) (owner int, ok bool) {
	bits, found := o.replyBits[replyKey{addr: p.Src, proto: p.Proto}]
	if !found {
		if tries > 0 {
			return 0, false
		}
		return o.ownerOf(&p.Dst, 128, workers), true
	}
	if int(tries) >= len(bits) {
		return 0, false
	}
	return o.ownerOf(&p.Dst, int(bits[tries]), workers), true
}

// maskAddr keeps the first bits bits of a 16-byte address.
func maskAddr(a [16]byte, bits int) [16]byte {
	for i := range a {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			a[i] &= ^byte(0xff >> bits)
			bits = 0
		default:
			a[i] = 0
		}
	}
	return a
}

// ownerOf is the worker owning pkt's connection; svc is the service it is
// addressed to (nil: a reply).
func (w *Worker) ownerOf(pkt *packet, svc *Service) int {
	return w.ownerOfHeader(&pkt.hdr, pkt.tries, svc)
}

// ownerOfHeader is ownerOf for a packet known by its headers alone (an
// ICMP error's quote, reversed: icmp.go).
func (w *Worker) ownerOfHeader(p *header.Packet, tries uint8, svc *Service) int {
	t := w.table
	switch {
	case svc != nil:
		return t.owners.ownerOf(&p.Src, svc.persistBits, w.workers)
	case t.isLocalAddress(&p.Dst):
		// A FULLNAT reply: its local port names the worker that bound it.
		return int(p.DstPort) % w.workers
	}
	owner, ok := t.owners.replyOwner(p, tries, w.workers)
	if !ok {
		return w.ID // tried everywhere: let this worker count the miss
	}
	return owner
}

// nextReplyOwner is, for a NAT reply this worker has no connection for, the
// next candidate worker to try, if any is left.
func (w *Worker) nextReplyOwner(pkt *packet) (int, bool) {
	return w.nextReplyOwnerOf(&pkt.hdr, &pkt.tries)
}

// nextReplyOwnerOf is nextReplyOwner for a packet known by its headers
// alone; it advances *tries.
func (w *Worker) nextReplyOwnerOf(p *header.Packet, tries *uint8) (int, bool) {
	if w.workers == 1 || w.table.isLocalAddress(&p.Dst) {
		return 0, false
	}
	for {
		*tries++
		owner, ok := w.table.owners.replyOwner(p, *tries, w.workers)
		if !ok {
			return 0, false
		}
		if owner != w.ID {
			return owner, true
		}
	}
}

// handOffTo gives the packet to its owner, unless it has travelled too far.
func (w *Worker) handOffTo(owner int, pkt *packet) verdict {
	if pkt.hops >= maxOwnerHops {
		return w.drop(DropHandoffLoop)
	}
	return handOffTo(owner)
}

// ownerOfClient is the worker owning client's connections to the service
// at vip:port (the whole address when there is no such service).
func (t *Table) ownerOfClient(client, vip *[16]byte, port uint16, proto uint8, workers int) int {
	bits := 128
	if svc := t.lookupService(vip, port, proto); svc != nil {
		bits = svc.persistBits
	}
	return t.owners.ownerOf(client, bits, workers)
}
