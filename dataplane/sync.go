package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/spsc"
)

// Connection sync (IPVS's sync daemon, simplified): a worker publishes every
// connection it creates, every TCP state change, and every live connection
// again about once a minute into its own out ring;
// the control plane ships them to the peer director, whose control plane
// hands each record to the worker owning its client, and that worker inserts
// or updates the connection between batches. After a failover the peer then
// carries the connections on: NAT replies find their mapping, DR and tunnel
// connections keep their real server.
//
// FULLNAT connections are not synced: their local ports belong to the
// sending worker's pool, which the peer's pools know nothing about.

// SyncRecord is one connection as directors exchange it.
type SyncRecord struct {
	Client, Virtual, Real             [16]byte
	ClientPort, VirtualPort, RealPort uint16
	Proto                             uint8
	State                             conntrack.State
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

// SyncIn is the ring of the worker owning r's client, into which the
// control plane (its only producer) puts the peer's connections.
func (dp *Dataplane) SyncIn(r *SyncRecord) *spsc.Ring[SyncRecord] {
	owner := 0
	if t := dp.Table(); t != nil && len(dp.Workers) > 1 {
		bits := 128
		if svc := t.lookupService(&r.Virtual, r.VirtualPort, r.Proto); svc != nil {
			bits = svc.persistBits
		}
		owner = t.owners.ownerOf(&r.Client, bits, len(dp.Workers))
	}
	return dp.Workers[owner].syncIn
}

// publishSync offers a connection to the peer; a full ring skips it (counted).
func (w *Worker) publishSync(c *conntrack.Conn) {
	if w.syncOut == nil || Method(c.Forward) == MethodFullNAT {
		return
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
		w.applySyncRecord(rec)
		w.syncIn.Release()
	}
}

func (w *Worker) applySyncRecord(rec *SyncRecord) {
	svc := w.table.lookupService(&rec.Virtual, rec.VirtualPort, rec.Proto)
	if svc == nil || svc.Spec.Method == MethodFullNAT {
		w.count(CountSyncUnknown)
		return
	}
	var real *Real
	for _, r := range svc.reals {
		if r.Addr == rec.Real && (r.Spec.Port == rec.RealPort || r.Spec.Port == 0) {
			real = r
			break
		}
	}
	if real == nil {
		w.count(CountSyncUnknown)
		return
	}
	in := conntrack.Tuple{Src: rec.Client, Dst: rec.Virtual, SrcPort: rec.ClientPort, DstPort: rec.VirtualPort, Proto: rec.Proto}
	if ref, _ := w.conns.Lookup(&in); ref != 0 {
		c := w.conns.Conn(ref)
		if old := w.conns.SetState(ref, rec.State, w.now); old.Active() != rec.State.Active() {
			if rs := w.table.realState(c.RealID); rs != nil {
				rs.Load.ConnChanged(old.Active(), rec.State.Active())
			}
		}
		w.count(CountSyncApplied)
		return
	}
	c := conntrack.Conn{
		Client: rec.Client, ClientPort: rec.ClientPort,
		Virtual: rec.Virtual, VirtualPort: rec.VirtualPort,
		Real: real.Addr, RealPort: rec.RealPort,
		Proto: rec.Proto, State: rec.State, Forward: uint8(svc.Spec.Method),
		ServiceID: svc.State.ID, RealID: real.ID,
	}
	var out *conntrack.Tuple
	var reply conntrack.Tuple
	if svc.Spec.Method == MethodNAT {
		reply = conntrack.Tuple{Src: real.Addr, Dst: rec.Client, SrcPort: rec.RealPort, DstPort: rec.ClientPort, Proto: rec.Proto}
		out = &reply
	}
	if _, err := w.conns.Insert(&c, &in, out, w.now); err != nil {
		w.count(CountSyncUnknown)
		return
	}
	real.State.Load.ConnStarted(rec.State.Active())
	w.count(CountSyncApplied)
}
