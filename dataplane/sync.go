package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/spsc"
)

// Connection sync (IPVS's sync daemon, simplified): a worker publishes every
// connection it creates, every TCP state change, and every live connection
// again about once a minute into its own out ring;
// the control plane ships them to the peer director, whose control plane
// hands each record to the worker owning it, and that worker inserts or
// updates the connection between batches. After a failover the peer then
// carries the connections on: NAT replies find their mapping, DR and tunnel
// connections keep their real server.
//
// FULLNAT connections carry their local address and port. The peer gives
// the record to the worker owning that port (port % workers, as replies are
// steered), which takes the port out of its own pool, so it is never handed
// to another connection while the synced one lives.

// SyncRecord is one connection as directors exchange it. Local and
// LocalPort are zero except for FULLNAT.
type SyncRecord struct {
	Client, Virtual, Real, Local                 [16]byte
	ClientPort, VirtualPort, RealPort, LocalPort uint16
	Proto                                        uint8
	State                                        conntrack.State
	// SeqAdjusted says the connection's sequence numbers are shifted (SYN
	// proxy, PROXY protocol) by the packed seqadj.Adjust in Seq.
	SeqAdjusted bool
	Seq         [conntrack.SeqSize]byte
	// ClientAddr is the connection's client-address state (its
	// SyncClientAddrBits of Conn.Flags: a PROXY header or TOA still to be
	// written, a header not yet acknowledged; clientaddr.go).
	ClientAddr uint8
}

// SyncClientAddrBits are the Conn.Flags bits a record's ClientAddr carries.
const SyncClientAddrBits = connClientAddrState

// Check says what is wrong with a record's fields by themselves (whether
// its service and real server exist is the applying worker's question), or
// "" when nothing is.
func (r *SyncRecord) Check() string {
	switch {
	case r.Proto != header.ProtocolTCP && r.Proto != header.ProtocolUDP:
		return "protocol is neither TCP nor UDP"
	case !r.State.Valid(r.Proto):
		return "state is not one of the protocol's"
	case r.SeqAdjusted && r.Proto != header.ProtocolTCP:
		return "a sequence adjustment on a connection that is not TCP"
	case r.ClientAddr&^SyncClientAddrBits != 0:
		return "unknown client-address state"
	case r.ClientPort == 0 || r.VirtualPort == 0 || r.RealPort == 0:
		return "a port is zero"
	case header.Is4(&r.Client) != header.Is4(&r.Virtual):
		return "client and virtual address of different families"
	case r.Local == [16]byte{} && r.LocalPort != 0:
		return "local port without a local address"
	case r.Local != [16]byte{} && (r.LocalPort < localPortFirst || header.Is4(&r.Local) != header.Is4(&r.Real)):
		return "local address or port unusable"
	}
	return ""
}

const syncRingSlots = 4096

// syncRefresh is how often (in units of 2^30 ns, about a second) a live
// connection is offered to the peer again, so the peer's copy, which only
// these records refresh, outlives it: well inside the shortest timeout a
// synced connection may sit in without changing state (ESTABLISHED, 900 s).
const syncRefresh = 60

// syncClock is the coarse clock of Conn.SyncedAt.
func syncClock(now int64) uint32 { return uint32(now >> 30) }

// syncDue says whether c should be offered to the peer for this packet.
func (w *Worker) syncDue(c *conntrack.Conn, changed bool) bool {
	return w.syncOut != nil && (changed || syncClock(w.now)-c.SyncedAt >= syncRefresh)
}

// EnableSync gives every worker the rings to publish its connections (send)
// and to take the peer's (receive). Call before Run.
func (dp *Dataplane) EnableSync(send, receive bool) {
	for _, w := range dp.Workers {
		if send {
			w.syncOut = spsc.New[SyncRecord](syncRingSlots)
		}
		if receive {
			w.syncIn = spsc.New[SyncRecord](syncRingSlots)
		}
	}
}

// SyncOut is worker i's ring of connections to send to the peer; the
// control plane is its only consumer.
func (dp *Dataplane) SyncOut(i int) *spsc.Ring[SyncRecord] { return dp.Workers[i].syncOut }

// SyncIn is the ring of the worker that owns rec (its client's owner, or
// for FULLNAT its local port's), into which the control plane (its only
// producer) puts the peer's connections.
func (dp *Dataplane) SyncIn(rec *SyncRecord) *spsc.Ring[SyncRecord] {
	owner, n := 0, len(dp.Workers)
	switch {
	case n == 1:
	case rec.Local != [16]byte{}:
		owner = int(rec.LocalPort) % n
	default:
		if t := dp.Table(); t != nil {
			owner = t.ownerOfClient(&rec.Client, &rec.Virtual, rec.VirtualPort, rec.Proto, n)
		}
	}
	return dp.Workers[owner].syncIn
}

// publishSync offers a connection to the peer; a full ring skips it (counted).
func (w *Worker) publishSync(c *conntrack.Conn) {
	if w.syncOut == nil || c.Flags&connProxyPending != 0 {
		return // a proxied connection is offered once its server answered
	}
	if r := w.table.real(c.RealID); r != nil && r.overflow {
		return // shed to another site: the peer has no such real server (overflow.go)
	}
	c.SyncedAt = syncClock(w.now)
	slot := w.syncOut.Reserve()
	if slot == nil {
		w.count(CountSyncOutFull)
		return
	}
	*slot = SyncRecord{
		Client: c.Client, Virtual: c.Virtual, Real: c.Real,
		ClientPort: c.ClientPort, VirtualPort: c.VirtualPort, RealPort: c.RealPort,
		Proto: c.Proto, State: c.State,
	}
	if Method(c.Forward) == MethodFullNAT {
		slot.Local, slot.LocalPort = c.Local, c.LocalPort
	}
	if c.Flags&connSeqAdjusted != 0 {
		slot.SeqAdjusted, slot.Seq = true, c.Seq
	}
	slot.ClientAddr = c.Flags & connClientAddrState
	w.syncOut.Commit()
	w.count(CountSyncPublished)
}

// applySync takes up to a batch of the peer's connections into the table.
func (w *Worker) applySync() {
	if w.syncIn == nil {
		return
	}
	for n := 0; n < batchSize; n++ {
		rec := w.syncIn.Peek()
		if rec == nil {
			return
		}
		if w.applySyncRecord(rec) {
			w.count(CountSyncApplied)
		} else {
			w.count(CountSyncUnknown)
		}
		w.syncIn.Release()
	}
}

// applySyncRecord inserts or updates the peer's connection, and reports
// false for a record this director cannot take: a bad field, a service or
// real server it does not have, a FULLNAT local port not this worker's or
// already taken, a full table.
func (w *Worker) applySyncRecord(rec *SyncRecord) bool {
	if rec.Check() != "" {
		return false
	}
	svc := w.table.lookupService(&rec.Virtual, rec.VirtualPort, rec.Proto)
	if svc == nil || (svc.Spec.Method == MethodFullNAT) != (rec.Local != [16]byte{}) {
		return false
	}
	real := svc.syncedReal(rec)
	if real == nil {
		return false
	}
	in := conntrack.Tuple{Src: rec.Client, Dst: rec.Virtual, SrcPort: rec.ClientPort, DstPort: rec.VirtualPort, Proto: rec.Proto}
	if ref, _ := w.conns.Lookup(&in); ref != 0 {
		c := w.conns.Conn(ref)
		if c.RealID != real.ID || c.Local != rec.Local || c.LocalPort != rec.LocalPort {
			return false // ours is another connection on the same tuple
		}
		syncSeq(c, rec)
		if old := w.conns.SetState(ref, rec.State, w.now); old.Active() != rec.State.Active() {
			if rs := w.table.realState(c.RealID); rs != nil {
				rs.Load.ConnChanged(old.Active(), rec.State.Active())
			}
		}
		return true
	}
	c := conntrack.Conn{
		Client: rec.Client, ClientPort: rec.ClientPort,
		Virtual: rec.Virtual, VirtualPort: rec.VirtualPort,
		Real: real.Addr, RealPort: rec.RealPort,
		Local: rec.Local, LocalPort: rec.LocalPort,
		Proto: rec.Proto, State: rec.State, Forward: uint8(svc.Spec.Method),
		ServiceID: svc.State.ID, RealID: real.ID,
	}
	syncSeq(&c, rec)
	var out *conntrack.Tuple
	var reply conntrack.Tuple
	switch svc.Spec.Method {
	case MethodNAT:
		reply = conntrack.Tuple{Src: real.Addr, Dst: rec.Client, SrcPort: rec.RealPort, DstPort: rec.ClientPort, Proto: rec.Proto}
		out = &reply
	case MethodFullNAT:
		// Replies find the worker by the local port, the client's packets by
		// the client: only a worker that is both can carry the connection
		// (true when both directors have as many workers and one owner hash,
		// which the sync key seeds). The port needs no reserving: a new
		// connection never takes one whose reply tuple is in the table.
		if !w.ownsFullNAT(rec, svc) || !w.local.serves(svc, &rec.Local) || rec.LocalPort < localPortFirst {
			return false
		}
		reply = conntrack.Tuple{Src: real.Addr, Dst: rec.Local, SrcPort: rec.RealPort, DstPort: rec.LocalPort, Proto: rec.Proto}
		out = &reply
	}
	if _, err := w.conns.Insert(&c, &in, out, w.now); err != nil {
		return false
	}
	real.State.Load.ConnStarted(rec.State.Active())
	return true
}

// ownsFullNAT says whether this worker is the one both directions of a
// synced FULLNAT connection reach.
func (w *Worker) ownsFullNAT(rec *SyncRecord, svc *Service) bool {
	if w.workers <= 1 {
		return true
	}
	return int(rec.LocalPort)%w.workers == w.ID && w.table.owners.ownerOf(&rec.Client, svc.persistBits, w.workers) == w.ID
}

// syncedReal is the real server of svc a peer's record names, or nil.
func (svc *Service) syncedReal(rec *SyncRecord) *Real {
	for _, r := range svc.reals {
		if r.Addr == rec.Real && (r.Spec.Port == rec.RealPort || r.Spec.Port == 0) {
			return r
		}
	}
	return nil
}

// syncSeq takes a record's sequence adjustment and client-address state
// into a connection.
func syncSeq(c *conntrack.Conn, rec *SyncRecord) {
	if rec.SeqAdjusted {
		c.Flags |= connSeqAdjusted
		c.Seq = rec.Seq
	}
	c.Flags = c.Flags&^connClientAddrState | rec.ClientAddr
}
