package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
)

// Fragments of a load-balanced datagram follow its first fragment without
// reassembly. The first fragment (offset 0) carries the ports: it finds or
// creates its connection like any packet, is rewritten (the L4 checksum,
// which covers the whole datagram, lives in it and is updated there for the
// address and port changes) and leaves. On its way it records the
// connection's decision in the fragment table under (src, dst, protocol,
// IP id / IPv6 fragment identification). Later fragments look the decision
// up and take the same addresses and path: NAT and FULLNAT rewrite their
// addresses only (IPv4 header checksum updated), DR their MACs, TUN
// encapsulates each fragment. A later fragment arriving before its first is
// held (copied, bounded) until the decision comes, or dropped on timeout.
//
// Which worker: later fragments carry no ports, so they cannot be given to
// the owner of their connection (owner.go hashes the client under its
// service's mask, or uses a FULLNAT reply's local port, or tries NAT reply
// candidates). Instead each datagram has a fragment owner, a keyed hash of
// its (src, dst, protocol, id), computable from any of its fragments: the
// later fragments go to it; the first fragment goes to its connection's
// owner as usual, and that worker sends the decision to the fragment owner
// as a note on the hand-over ring when the two differ. Connection
// ownership is untouched, so fragments change nothing for other packets.

// fragState is a worker's fragment bookkeeping.
type fragState struct {
	table fragTable
	held  fragHold
	// While process handles a first fragment, firstKey names its datagram
	// (first is set), so decideFragments can record the connection's choice.
	first    bool
	firstKey fragKey
	// conn is scratch for the methods' forwarding functions, which take a
	// connection: the fields a decision carries.
	conn conntrack.Conn
	pkt  packet // a held fragment on its way out
}

// fragNote carries a first fragment's decision to the fragment owner.
type fragNote struct {
	key      fragKey
	decision fragDecision
}

// processFragment handles a packet that parsed as a fragment.
func (w *Worker) processFragment(pkt *packet) verdict {
	p := &pkt.hdr
	f, res := p.ParseFragmentHeader()
	if res != header.ParseOK {
		return w.drop(dropOfParse[res])
	}
	key := fragKey{src: p.Src, dst: p.Dst, id: f.ID, proto: p.Proto}
	if f.First() {
		w.frags.first, w.frags.firstKey = true, key
		v := w.process(pkt, header.ParseOK, 0, 0, false)
		w.frags.first = false
		return v
	}
	if owner := w.fragOwner(&key); owner != w.ID {
		return w.handOffTo(owner, pkt)
	}
	if d := w.frags.table.lookup(&key, w.now); d != nil {
		return w.forwardFragment(d, pkt)
	}
	if w.frags.held.hold(&key, pkt.frame(), pkt.inPort, w.now) != held {
		return w.drop(DropFragmentHeldFull)
	}
	w.count(CountFragmentsHeld)
	return verdict{action: actionHold}
}

// fragOwner is the worker following a datagram's later fragments.
func (w *Worker) fragOwner(k *fragKey) int {
	if w.workers == 1 {
		return w.ID
	}
	return int(fragHash(&w.table.owners.hash, k) % uint64(w.workers))
}

// decideFragments records, for the first fragment process is handling, what
// its connection decided, where the fragment owner will find it.
func (w *Worker) decideFragments(c *conntrack.Conn, dir conntrack.Dir) {
	k := &w.frags.firstKey
	d := fragDecision{method: Method(c.Forward), in: dir == conntrack.DirIn,
		realID: c.RealID, serviceID: c.ServiceID, clientPort: c.ClientPort, virtualPort: c.VirtualPort,
		real: c.Real, client: c.Client, src: k.src, dst: k.dst}
	switch {
	case d.method == MethodNAT && d.in:
		d.dst = c.Real
	case d.method == MethodNAT:
		d.src = c.Virtual
	case d.method == MethodFullNAT && d.in:
		d.src, d.dst = c.Local, c.Real
	case d.method == MethodFullNAT:
		d.src, d.dst = c.Virtual, c.Client
	}
	owner := w.fragOwner(k)
	if owner == w.ID {
		w.learnFragments(k, &d)
		return
	}
	if !w.sendFragNote(owner, k, &d) {
		w.count(CountFragDecisionsLost)
	}
}

// learnFragments records a decision and sends the fragments held for it.
func (w *Worker) learnFragments(k *fragKey, d *fragDecision) {
	if !w.frags.table.remember(k, d, w.now) {
		w.count(CountFragTableFull)
		return
	}
	for s := w.frags.held.next(k); s != nil; s = w.frags.held.next(k) {
		pkt := &w.frags.pkt
		*pkt = packet{buf: s.buf[:], off: handoffHeadroom, size: s.length, inPort: s.port}
		pkt.hdr.Parse(pkt.frame()) // it parsed as a fragment when it was held
		pkt.hdr.ParseFragmentHeader()
		if v := w.forwardFragment(d, pkt); v.action == actionTransmit {
			w.sendExtra() // the first half of a fragment leave cut in two
			w.sendCopy(v.port, pkt.frame())
		}
		w.frags.held.free(s)
	}
}

// forwardFragment sends a later fragment the way its first went. It is
// routed as its first was: NAT and FULLNAT take one off its TTL / hop limit
// (routeHop: at 1 it stops, and only an IPv6 sender hears time exceeded),
// and every method checks it against the egress MTU (an IPv6 fragment too
// big is answered with packet too big, an IPv4 one cut in two, or dropped
// if it has DF).
func (w *Worker) forwardFragment(d *fragDecision, pkt *packet) verdict {
	// What the methods' functions read of a connection. Virtual and Local
	// are the sources of the ICMP the director may send (icmpSource): what
	// the fragment was sent to, but for a NAT reply, the VIP its rewrite
	// gives it.
	p := &pkt.hdr
	c := &w.frags.conn
	c.Real, c.Client, c.RealID, c.ServiceID = d.real, d.client, d.realID, d.serviceID
	c.ClientPort, c.VirtualPort, c.Forward = d.clientPort, d.virtualPort, uint8(d.method)
	c.Virtual, c.Local = p.Dst, p.Dst
	if !d.in {
		c.Virtual = d.src
	}
	dir := dirOf(d.in)
	switch d.method {
	case MethodNAT, MethodFullNAT:
		if v, ok := w.routeHop(pkt, c, dir); !ok {
			return v
		}
	case MethodDR:
		if v, ok := w.fitsEgress(pkt, c, dir); !ok {
			return v
		}
	}
	setFragmentAddresses(p, &d.src, &d.dst)
	var v verdict
	switch {
	case d.method == MethodTunnel:
		v = w.forwardTunnel(c, pkt)
	case d.in:
		v = w.transmitToReal(c, pkt)
	default:
		v = w.transmitTo(&d.client, pkt)
	}
	if v.action == actionTransmit {
		w.count(CountFragmentsForwarded)
		w.countTraffic(c, dir, pkt.size)
	}
	return v
}

func dirOf(in bool) conntrack.Dir {
	if in {
		return conntrack.DirIn
	}
	return conntrack.DirOut
}

// setFragmentAddresses gives a later fragment its datagram's new addresses:
// it holds no L4 header, so only the IPv4 header checksum changes.
func setFragmentAddresses(p *header.Packet, src, dst *[16]byte) {
	if p.IsIPv6 {
		ip := p.IPv6()
		ip.SetSourceAddress(*src)
		ip.SetDestinationAddress(*dst)
	} else {
		ip := p.IPv4()
		if p.Src != *src {
			ip.SetSourceAddressWithChecksumUpdate(header.Unmap4(src))
		}
		if p.Dst != *dst {
			ip.SetDestinationAddressWithChecksumUpdate(header.Unmap4(dst))
		}
	}
	p.Src, p.Dst = *src, *dst
}

// sendFragNote hands a decision to the fragment owner; false when its inbox
// is full (the later fragments will be held there and time out).
func (w *Worker) sendFragNote(owner int, k *fragKey, d *fragDecision) bool {
	if owner >= len(w.outbox) || w.outbox[owner] == nil {
		return false
	}
	slot := w.outbox[owner].Reserve()
	if slot == nil {
		return false
	}
	slot.note, slot.hasNote = fragNote{key: *k, decision: *d}, true
	w.outbox[owner].Commit()
	return true
}

// expireHeldFragments drops the fragments whose first never came.
func (w *Worker) expireHeldFragments() {
	if n := w.frags.held.expire(w.now); n > 0 {
		w.tally.drops[DropFragmentTimeout] += uint64(n)
	}
}
