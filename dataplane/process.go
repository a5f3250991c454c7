package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/dr"
	"fastlvs/header"
	"fastlvs/sched"
)

// process handles one packet in place and says what to do with it:
// transmit pkt.frame() on a port, hand it over to the worker that owns its
// connection, or drop it (already counted). pkt.hdr holds its parse
// (ParseOK or the reason it failed). When looked is true, ref and dir are
// the connection lookup the receive batch prepared and resolved just before
// the call (ref 0: none). It is the per-packet path: no allocation, no lock,
// no clock read.
func (w *Worker) process(pkt *packet, res header.ParseResult, ref conntrack.Ref, dir conntrack.Dir, looked bool) verdict {
	p := &pkt.hdr
	if w.table.isOverflowTunnel(res, p) { // overflowaccept.go
		var drop Drop
		if res, drop = w.openOverflowTunnel(pkt); drop != 0 {
			return w.drop(drop)
		}
		looked = false // the batch looked the outer header up
	}
	if res == header.ParseFragment {
		return w.processFragment(pkt) // fragment.go; comes back here for a first fragment
	}
	if res != header.ParseOK {
		return w.drop(dropOfParse[res])
	}
	if p.Proto == header.ProtocolICMPv4 || p.Proto == header.ProtocolICMPv6 {
		return w.processICMP(pkt) // icmp.go
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
		if owner := w.ownerOf(pkt, svc); owner != w.ID {
			return w.handOffTo(owner, pkt)
		}
	}

	// The batch's answer (conntrack.Batch's Resolve, just before this call)
	// is as of now, even after earlier packets of the batch changed the table.
	if !looked {
		ref, dir = w.conns.Lookup(tupleOf(p))
	}
	if ref != 0 && dir == conntrack.DirIn && w.startsAfresh(w.conns.Conn(ref), p) {
		w.expireConn(ref)
		w.count(CountRescheduled)
		ref = 0
	}
	created := false
	if ref == 0 {
		if w.workers == 1 {
			svc = t.lookupService(&p.Dst, p.DstPort, p.Proto)
		}
		if svc == nil {
			if owner, ok := w.nextReplyOwner(pkt); ok {
				return w.handOffTo(owner, pkt)
			}
			return w.drop(DropReplyNoConn)
		}
		if t.ownSource(&p.Src) {
			return w.drop(DropSpoofedSource)
		}
		tuple := tupleOf(p)
		if svc.Spec.SynProxy && p.Proto == header.ProtocolTCP {
			return w.proxyNew(pkt, svc, tuple)
		}
		if drop := w.refusesFirstPacket(p); drop != 0 {
			return w.drop(drop)
		}
		created = true
		var drop Drop
		if ref, drop = w.newConn(svc, p, tuple); ref == 0 {
			return w.drop(drop)
		}
		w.learnSource(pkt)
		dir = conntrack.DirIn
	} else if dir == conntrack.DirOut && !w.fromItsRealServer(w.conns.Conn(ref), pkt) {
		return w.drop(DropSpoofedReply)
	} else if c := w.conns.Conn(ref); c.Flags&connProxyPending != 0 {
		return w.proxyPendingPacket(pkt, ref, c, dir)
	}
	// A new connection's first packet moves it out of NONE too (SYN_RECV).
	drop, ok, changed := w.track(ref, dir, p.TCPFlags)
	if !ok {
		return w.drop(drop)
	}

	c := w.conns.Conn(ref)
	if w.frags.first {
		w.decideFragments(c, dir)
	}
	if w.syncDue(c, changed || created) {
		w.publishSync(c)
	}
	w.countTraffic(c, dir, pkt.size)
	if m := Method(c.Forward); m == MethodNAT || m == MethodFullNAT {
		if v, ok := w.routeHop(pkt, c, dir); !ok { // icmpanswer.go
			return v
		}
	}
	switch Method(c.Forward) {
	case MethodDR:
		if v, ok := w.fitsEgress(pkt, c, dir); !ok { // fragneeded.go
			return v
		}
		return w.transmitToReal(c, pkt)
	case MethodNAT, MethodFullNAT:
		if dir == conntrack.DirIn {
			w.rewriteToReal(c, p)
			if c.Flags&connClientAddrState == 0 {
				adjustSeq(c, dir, p)
			} else if drop := w.clientAddressToReal(c, pkt); drop != 0 {
				return w.drop(drop)
			}
			return w.transmitToReal(c, pkt)
		}
		rewriteToClient(c, p)
		if c.Flags&connClientAddrState == 0 {
			adjustSeq(c, dir, p)
		} else {
			w.clientAddressToClient(c, p)
		}
		return w.transmitTo(&c.Client, pkt)
	case MethodTunnel:
		return w.forwardTunnel(c, pkt)
	}
	return w.drop(DropUnsupportedMethod)
}

// tupleOf is the connection lookup key of a parsed packet. It is built only
// where a lookup or a new connection needs it: an established flow's
// packets take the key the receive batch built (worker.lookupBatch).
func tupleOf(p *header.Packet) *conntrack.Tuple {
	return &conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto}
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
	if hop := w.hop.GatewayHop(dst); hop != nil {
		header.Ethernet(pkt.frame()).Readdress(hop.DstMAC, hop.SrcMAC)
		return transmitOn(hop.Port)
	}
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
	header.Ethernet(pkt.frame()).Readdress(hop.DstMAC, hop.SrcMAC)
	return w.leave(pkt, hop.Port)
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
	if Method(c.Forward) == MethodDR {
		if !dr.Forward(pkt.frame(), &path.hop) {
			return w.drop(DropDRRealNotOnLink)
		}
		return w.leave(pkt, path.hop.Port)
	}
	header.Ethernet(pkt.frame()).Readdress(path.hop.DstMAC, path.hop.SrcMAC)
	return w.leave(pkt, path.hop.Port)
}

// track advances an existing connection's state for this packet and says
// whether the state changed.
func (w *Worker) track(ref conntrack.Ref, dir conntrack.Dir, tcpFlags uint8) (drop Drop, ok, changed bool) {
	c := w.conns.Conn(ref)
	if w.table.real(c.RealID) == nil && !w.table.servesRemoved(c.RealID, w.now) {
		w.expireConn(ref)
		return DropRealServerRemoved, false, false
	}
	inputOnly := Method(c.Forward) == MethodDR || Method(c.Forward) == MethodTunnel
	if c.Proto != header.ProtocolTCP {
		// Update, not Touch: the table learns the flow was answered, which
		// keeps it from being evicted under pressure.
		w.conns.Update(ref, dir, 0, inputOnly, w.now)
		return 0, true, false
	}
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
	if svc.overflowReal != nil && svc.State.Overflow.Shedding() {
		return w.newOverflowConn(svc, p, tuple) // overflow.go
	}
	real, template := w.pickReal(svc, p)
	if real == nil {
		if svc.overflowReal != nil {
			return w.newOverflowConn(svc, p, tuple)
		}
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
	startClientAddress(svc, &c, p)
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
	return w.insertConn(&c, tuple, out, real, svc)
}

// insertConn records a new connection c to real of svc (out: its reply
// tuple, nil when replies do not pass the director) and counts it.
func (w *Worker) insertConn(c *conntrack.Conn, tuple, out *conntrack.Tuple, real *Real, svc *Service) (conntrack.Ref, Drop) {
	ref, err := w.conns.Insert(c, tuple, out, w.now)
	if err == conntrack.ErrExists && out != nil && w.evict(out) {
		ref, err = w.conns.Insert(c, tuple, out, w.now)
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

// refusesFirstPacket says why a packet that has no connection cannot open
// one: IPVS creates TCP connections on a SYN only (any segment but a reset
// with sloppy_tcp).
func (w *Worker) refusesFirstPacket(p *header.Packet) Drop {
	const synMask = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst
	if p.Proto == header.ProtocolTCP && p.TCPFlags&synMask != header.TCPFlagSyn {
		if !w.table.Spec.SloppyTCP || p.TCPFlags&header.TCPFlagRst != 0 {
			return DropTCPNotSYN
		}
	}
	return 0
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
	w.expireConn(ref)
	w.count(CountEvictions)
	return true
}

// expireConn ends a connection before its time.
func (w *Worker) expireConn(ref conntrack.Ref) {
	w.onExpire(ref, w.conns.Conn(ref))
	w.conns.Remove(ref)
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
