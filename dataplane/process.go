package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/dr"
	"fastlvs/header"
	"fastlvs/nat"
	"fastlvs/sched"
)

// process handles one packet in place and says what to do with it:
// transmit pkt.frame() on a port, hand it over to the worker that owns its
// connection, or drop it (already counted). pkt.hdr holds its parse
// (ParseOK or the reason it failed). When looked is true, ref and dir are
// the connection lookup LookupBatch did for the whole receive batch (ref 0:
// none then). It is the per-packet path: no allocation, no lock, no clock
// read.
func (w *Worker) process(pkt *packet, res header.ParseResult, ref conntrack.Ref, dir conntrack.Dir, looked bool) verdict {
	p := &pkt.hdr
	if res != header.ParseOK {
		return w.drop(dropOfParse[res])
	}
	if p.Proto != header.ProtocolTCP && p.Proto != header.ProtocolUDP {
		return w.drop(DropParseUnsupportedL4)
	}
	t := w.table
	// The service is needed to create a connection and, with several
	// workers, to tell which end is the client (which names the owner); a
	// single worker skips it for every packet of an existing connection.
	var svc *Service
	if w.workers > 1 {
		svc = t.lookupService(&p.Dst, p.DstPort, p.Proto)
		client := &p.Src
		if svc == nil { // not for a VIP: a reply from a real server to the client
			client = &p.Dst
		}
		owner := t.ownerOf(client, w.workers)
		if svc == nil && t.isLocalAddress(&p.Dst) {
			// A FULLNAT reply: its local port names the worker that bound it.
			owner = int(p.DstPort) % w.workers
		}
		if owner != w.ID {
			return handOffTo(owner)
		}
	}

	tuple := conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
	// A batch lookup is stale once this batch removed a connection (its ref
	// may be reused), and its misses may have been created by an earlier
	// packet of the batch: look those up again.
	if !looked || ref == 0 || w.batchRemoved {
		ref, dir = w.conns.Lookup(&tuple)
	}
	created := false
	if ref == 0 {
		if w.workers == 1 {
			svc = t.lookupService(&p.Dst, p.DstPort, p.Proto)
		}
		if svc == nil {
			return w.drop(DropReplyNoConn)
		}
		created = true
		var drop Drop
		if ref, drop = w.newConn(svc, p, &tuple); ref == 0 {
			return w.drop(drop)
		}
		w.learnSource(pkt)
		dir = conntrack.DirIn
	}
	// A new connection's first packet moves it out of NONE too (SYN_RECV).
	drop, ok, changed := w.track(ref, dir, p.TCPFlags)
	if !ok {
		return w.drop(drop)
	}

	c := w.conns.Conn(ref)
	if w.syncDue(c, changed || created) {
		w.publishSync(c)
	}
	w.countTraffic(c, dir, pkt.size)
	switch Method(c.Forward) {
	case MethodDR:
		return w.transmitToReal(c, pkt)
	case MethodNAT:
		if dir == conntrack.DirIn {
			nat.RewriteDestination(p, &c.Real, c.RealPort)
			return w.transmitToReal(c, pkt)
		}
		nat.RewriteSource(p, &c.Virtual, c.VirtualPort)
		return w.transmitTo(&c.Client, pkt)
	case MethodFullNAT:
		return w.forwardFullNAT(c, dir, pkt)
	case MethodTunnel:
		return w.forwardTunnel(c, pkt)
	}
	return w.drop(DropUnsupportedMethod)
}

// drop counts a dropped packet under its reason.
func (w *Worker) drop(d Drop) verdict {
	w.tally.drops[d]++
	return verdict{action: actionDrop, reason: d}
}

// count adds one to a worker counter.
func (w *Worker) count(c Count) { w.tally.counts[c]++ }

// transmitTo readdresses the frame to the next hop towards dst.
func (w *Worker) transmitTo(dst *[16]byte, pkt *packet) verdict {
	hop, want, ok := w.hop.Lookup(*dst)
	if !ok {
		if want == ([16]byte{}) {
			return w.drop(DropNoRoute)
		}
		w.wants.Push(want) // a full queue only delays resolution
		if v, ok := w.transmitLearned(dst, pkt); ok {
			return v
		}
		return w.drop(DropNeighborUnresolved)
	}
	dr.Forward(pkt.frame(), hop.DstMAC, hop.SrcMAC)
	return transmitOn(hop.Port)
}

// transmitToReal is transmitTo for a connection's real server, through the
// worker's per-snapshot path cache (realpath.go).
func (w *Worker) transmitToReal(c *conntrack.Conn, pkt *packet) verdict {
	path, drop := w.pathToReal(c)
	if path == nil {
		if drop == DropNeighborUnresolved {
			if v, ok := w.transmitLearned(&c.Real, pkt); ok {
				return v
			}
		}
		return w.drop(drop)
	}
	dr.Forward(pkt.frame(), path.hop.DstMAC, path.hop.SrcMAC)
	return transmitOn(path.hop.Port)
}

// track advances an existing connection's state for this packet and says
// whether the state changed.
func (w *Worker) track(ref conntrack.Ref, dir conntrack.Dir, tcpFlags uint8) (drop Drop, ok, changed bool) {
	c := w.conns.Conn(ref)
	if w.table.real(c.RealID) == nil && !w.table.servesRemoved(c.RealID, w.now) {
		w.onExpire(ref, c)
		w.conns.Remove(ref)
		w.batchRemoved = true
		return DropRealServerRemoved, false, false
	}
	if c.Proto != header.ProtocolTCP {
		w.conns.Touch(ref, w.now)
		return 0, true, false
	}
	inputOnly := Method(c.Forward) == MethodDR || Method(c.Forward) == MethodTunnel
	old, cur := w.conns.Update(ref, dir, tcpFlags, inputOnly, w.now)
	if old.Active() != cur.Active() {
		if rs := w.table.realState(c.RealID); rs != nil {
			rs.Load.ConnChanged(old.Active(), cur.Active())
		}
	}
	return 0, true, old != cur
}

// newConn schedules a real server for the first packet of a connection and
// records it. It returns ref 0 and the reason when the packet must drop.
func (w *Worker) newConn(svc *Service, p *header.Packet, tuple *conntrack.Tuple) (conntrack.Ref, Drop) {
	const synMask = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst
	if p.Proto == header.ProtocolTCP && p.TCPFlags&synMask != header.TCPFlagSyn {
		if !w.table.Spec.SloppyTCP || p.TCPFlags&header.TCPFlagRst != 0 {
			return 0, DropTCPNotSYN
		}
	}
	real, template := w.pickReal(svc, p)
	if real == nil {
		return 0, DropNoRealServer
	}
	rport := real.Spec.Port
	if rport == 0 {
		rport = p.DstPort
	}
	c := conntrack.Conn{
		Client: p.Src, ClientPort: p.SrcPort,
		Virtual: p.Dst, VirtualPort: p.DstPort,
		Real: real.Addr, RealPort: rport,
		Proto: p.Proto, Forward: uint8(svc.Spec.Method),
		ServiceID: svc.State.ID, RealID: real.ID,
		Template: template,
	}
	var out *conntrack.Tuple
	var reply conntrack.Tuple
	switch svc.Spec.Method {
	case MethodNAT:
		reply = conntrack.Tuple{Src: real.Addr, Dst: p.Src, SrcPort: rport, DstPort: p.SrcPort, Proto: p.Proto}
		out = &reply
	case MethodFullNAT:
		if !w.bindLocal(svc, &c) {
			return 0, DropLocalPortsExhausted
		}
		reply = conntrack.Tuple{Src: real.Addr, Dst: c.Local, SrcPort: rport, DstPort: c.LocalPort, Proto: p.Proto}
		out = &reply
	}
	ref, err := w.conns.Insert(&c, tuple, out, w.now)
	if err == conntrack.ErrExists && out != nil && w.evict(out) {
		ref, err = w.conns.Insert(&c, tuple, out, w.now)
	}
	if err != nil && svc.Spec.Method == MethodFullNAT {
		w.releaseLocal(&c)
	}
	switch err {
	case nil:
	case conntrack.ErrFull:
		return 0, DropConnTableFull
	default:
		return 0, DropConnClash
	}
	real.State.Load.ConnStarted(w.conns.Conn(ref).State.Active())
	w.realTallyOf(real.ID).conns++
	w.serviceTallyOf(svc.State.ID).conns++
	w.count(CountNewConns)
	return ref, 0
}

// evict removes the connection that already owns a reply tuple. A client
// that reuses its source port towards another VIP served by the same real
// server makes the new connection's replies look like the old one's; the
// client has let the old one go, so the new one wins.
func (w *Worker) evict(reply *conntrack.Tuple) bool {
	ref, _ := w.conns.Lookup(reply)
	if ref == 0 {
		return false
	}
	w.onExpire(ref, w.conns.Conn(ref))
	w.conns.Remove(ref)
	w.batchRemoved = true
	w.count(CountEvictions)
	return true
}

// pickReal asks the persistence template, then the scheduler.
func (w *Worker) pickReal(svc *Service, p *header.Packet) (*Real, conntrack.Ref) {
	// The flow lives in the worker: passed through the Scheduler interface,
	// a local would escape to the heap on every new connection.
	flow := &w.flow
	*flow = sched.Flow{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
	if svc.Spec.Persistence <= 0 {
		if i := svc.schedulers[w.ID].Schedule(flow, w.now); i >= 0 {
			return svc.reals[i], 0
		}
		return nil, 0
	}
	key := conntrack.TemplateKey{Client: maskAddr(p.Src, svc.persistBits), Virtual: p.Dst, VirtualPort: svc.Spec.Port, Proto: p.Proto}
	if ref, realID, ok := w.conns.LookupTemplate(&key, w.now); ok {
		r := w.table.real(realID)
		if r != nil && r.Service == svc && (r.Spec.Weight > 0 || !w.table.Spec.ExpireQuiescentTemplate) {
			return r, ref
		}
		w.conns.RemoveTemplate(ref)
	}
	i := svc.schedulers[w.ID].Schedule(flow, w.now)
	if i < 0 {
		return nil, 0
	}
	r := svc.reals[i]
	ref, err := w.conns.InsertTemplate(&key, svc.State.ID, r.ID, svc.Spec.Persistence, w.now)
	if err != nil { // a full table still serves the connection, without persistence
		return r, 0
	}
	return r, ref
}

// countTraffic adds one packet to its service's and real server's counters.
func (w *Worker) countTraffic(c *conntrack.Conn, dir conntrack.Dir, length int) {
	if int(c.RealID) < len(w.realTally) {
		w.realTallyOf(c.RealID).count(dir == conntrack.DirIn, length)
	}
	if int(c.ServiceID) < len(w.serviceTally) {
		w.serviceTallyOf(c.ServiceID).count(dir == conntrack.DirIn, length)
	}
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

// ownerOf picks the worker that owns every connection of a client: a hash of
// its address under the table's coarsest persistence mask, so both
// directions of a NAT connection and every connection of a persistence
// template meet on one worker whatever queue they arrive on.
func (t *Table) ownerOf(client *[16]byte, workers int) int {
	bits := t.ownerBits6
	if header.Is4(client) {
		bits = 96 + t.ownerBits4
	}
	a := maskAddr(*client, bits)
	lo := uint64(a[8])<<56 | uint64(a[9])<<48 | uint64(a[10])<<40 | uint64(a[11])<<32 |
		uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
		uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
	h := (lo ^ hi*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	return int(h % uint64(workers))
}
