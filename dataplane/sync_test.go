package dataplane

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/spsc"
)

// enableMemSync gives a memDataplane's workers sync rings, as EnableSync.
func enableMemSync(d *memDataplane) {
	for _, w := range d.Workers {
		w.syncOut = spsc.New[SyncRecord](syncRingSlots)
		w.syncIn = spsc.New[SyncRecord](syncRingSlots)
	}
}

// TestSyncCarriesConnectionsToThePeer: a NAT connection created and
// established on one director is published; applied on the peer, the peer
// forwards the connection's next packets (a reply included) as the first
// would, and the state changes follow.
func TestSyncCarriesConnectionsToThePeer(t *testing.T) {
	active, standby := newMemDataplane(t, testSpec(), 1, 1024), newMemDataplane(t, testSpec(), 1, 1024)
	enableMemSync(active)
	enableMemSync(standby)
	a, b := active.Workers[0], standby.Workers[0]

	carry := func() int {
		n := 0
		var rec SyncRecord
		for a.syncOut.Pop(&rec) {
			b.syncIn.Push(rec)
			n++
		}
		b.applySync()
		return n
	}
	if v := a.processFrame(natSyn.frame(t), 0); v.action != actionTransmit {
		t.Fatalf("SYN on the active director: %v", dropCounts(a))
	}
	a.processFrame(natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(synAck).frame(t), 1)
	a.processFrame(natSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 0)
	if n := carry(); n != 2 {
		t.Fatalf("published %d records for SYN, SYN-ACK, ACK, want 2 (created in SYN_RECV, then ESTABLISHED)", n)
	}
	in := conntrack.Tuple{Src: addr("198.18.1.5").As16(), Dst: addr("198.18.0.20").As16(), SrcPort: natSyn.sport, DstPort: 80, Proto: 6}
	ref, _ := b.conns.Lookup(&in)
	if ref == 0 || b.conns.Conn(ref).State != conntrack.StateEstablished {
		t.Fatalf("peer's connection: ref %d", ref)
	}
	b.publish()
	if b.Stats.Count(CountSyncApplied) != 2 || b.Stats.Count(CountSyncUnknown) != 0 {
		t.Fatalf("applied %d unknown %d", b.Stats.Count(CountSyncApplied), b.Stats.Count(CountSyncUnknown))
	}
	// The peer now forwards the connection: data in, and the real's reply out.
	data := natSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("after failover") })
	if v := b.processFrame(data.frame(t), 0); v.action != actionTransmit || v.port != 1 {
		t.Fatalf("peer dropped the synced connection's data: %v", dropCounts(b))
	}
	reply := natSyn.toReal("198.18.2.2", 8080, realMAC2).fromReal(pshAck)
	if v := b.processFrame(reply.frame(t), 1); v.action != actionTransmit || v.port != 0 {
		t.Fatalf("peer dropped the synced connection's reply: %v", dropCounts(b))
	}
	// A record for a service the peer does not have is counted, not applied.
	b.syncIn.Push(SyncRecord{Virtual: addr("198.18.0.99").As16(), VirtualPort: 80, Proto: 6})
	b.applySync()
	b.publish()
	if b.Stats.Count(CountSyncUnknown) != 1 {
		t.Fatalf("unknown service record: SyncUnknown %d", b.Stats.Count(CountSyncUnknown))
	}
}

// TestSyncRefreshesLiveConnections: a busy connection whose state does not
// change is offered to the peer again about once a minute, not per packet,
// so the peer's copy does not expire under it.
func TestSyncRefreshesLiveConnections(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	enableMemSync(d)
	w := d.Workers[0]
	drained := func() int {
		n := 0
		var rec SyncRecord
		for w.syncOut.Pop(&rec) {
			n++
		}
		return n
	}
	w.processFrame(drSyn.frame(t), 0)
	w.processFrame(drSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 0)
	drained()
	data := drSyn.with(func(p *pkt) { p.flags = pshAck })
	for range 10 {
		w.processFrame(data.frame(t), 0)
	}
	if n := drained(); n != 0 {
		t.Fatalf("%d records for data packets of an unchanged connection within a second", n)
	}
	d.advance(time.Duration(syncRefresh+1) << 30)
	w.processFrame(data.frame(t), 0)
	w.processFrame(data.frame(t), 0)
	if n := drained(); n != 1 {
		t.Fatalf("%d records after a minute of traffic, want exactly 1", n)
	}
}

// TestSyncRecordOutOfRangeStateDoesNotPanic: a peer's record with a state
// byte no protocol has (200) used to index the table's timeouts unchecked
// and panic the worker; it is counted as bad and dropped.
func TestSyncRecordOutOfRangeStateDoesNotPanic(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 1024)
	enableMemSync(d)
	w := d.Workers[0]
	rec := SyncRecord{
		Client: addr("198.18.1.5").As16(), Virtual: addr("198.18.0.20").As16(), Real: addr("198.18.2.2").As16(),
		ClientPort: 40000, VirtualPort: 80, RealPort: 8080, Proto: 6, State: 200,
	}
	w.syncIn.Push(rec)
	w.applySync()
	w.publish()
	if w.Stats.Count(CountSyncApplied) != 0 || w.conns.Len() != 0 {
		t.Fatalf("applied %d, table holds %d", w.Stats.Count(CountSyncApplied), w.conns.Len())
	}
}

// TestSyncCarriesFullNATConnections: a FULLNAT connection synced with its
// local address and port goes to the peer's worker owning that port, which
// takes the port out of its pool and forwards the connection both ways
// with the same local address:port.
func TestSyncCarriesFullNATConnections(t *testing.T) {
	active, standby := newMemDataplane(t, fullnatSpec(), 2, 1024), newMemDataplane(t, fullnatSpec(), 2, 1024)
	for _, d := range []*memDataplane{active, standby} { // one owner hash, as one sync key gives
		d.Registry.SeedOwnerHash(42)
		d.publish(t, fullnatSpec())
		d.beginBatch()
	}
	enableMemSync(active)
	enableMemSync(standby)
	client := addr(fnatSyn.src).Unmap().As16()
	owner := active.tables.Load().owners.ownerOf(&client, 128, 2)
	a := active.Workers[owner]
	frame := fnatSyn.frame(t)
	if v := a.processFrame(frame, 0); v.action != actionTransmit {
		t.Fatalf("SYN on the active director: %v", dropCounts(a))
	}
	var out header.Packet
	out.Parse(frame)
	local, lport := out.Src, out.SrcPort
	var rec SyncRecord
	if !a.syncOut.Pop(&rec) || rec.Local != local || rec.LocalPort != lport {
		t.Fatalf("published %+v, want local %v:%d", rec, local, lport)
	}
	dp := &Dataplane{Workers: standby.Workers}
	dp.table.Store(standby.tables.Load())
	in := dp.SyncIn(&rec)
	if in != standby.Workers[int(lport)%2].syncIn {
		t.Fatal("the record is not for the worker owning its local port")
	}
	in.Push(rec)
	b := standby.Workers[int(lport)%2]
	b.applySync()
	b.publish()
	if b.Stats.Count(CountSyncApplied) != 1 {
		t.Fatalf("applied %d, rejected %d", b.Stats.Count(CountSyncApplied), b.Stats.Count(CountSyncUnknown))
	}
	held := conntrack.Tuple{Src: addr("198.18.2.2").As16(), Dst: local, SrcPort: 8080, DstPort: lport, Proto: header.ProtocolTCP}
	if ref, _ := b.conns.Lookup(&held); ref == 0 {
		t.Fatal("the synced connection's local port is not held on the peer")
	}
	localAddr := netip.AddrFrom16(local).Unmap().String()
	data := fnatSyn.with(func(p *pkt) { p.flags = pshAck; p.payload = []byte("after failover") })
	dataOut := data.viaLocal(localAddr, lport, "198.18.2.2", 8080, realMAC2)
	got := data.frame(t)
	if v := b.processFrame(got, 0); v.action != actionTransmit || v.port != 1 || string(got) != string(dataOut.frame(t)) {
		t.Fatalf("peer's forwarding of client data: %+v drops %v\n got: %s\nwant: %s", v, dropCounts(b), dump(got), dump(dataOut.frame(t)))
	}
	reply := dataOut.fromReal(pshAck)
	if v := b.processFrame(reply.frame(t), 1); v.action != actionTransmit || v.port != 0 {
		t.Fatalf("peer dropped the reply to %s:%d: %v", localAddr, lport, dropCounts(b))
	}
	// The same port again, for another client: refused, the port is held.
	rec.ClientPort++
	b.syncIn.Push(rec)
	// A local address that is not the service's, and a port of the other worker.
	bad := rec
	bad.Local = addr("198.18.3.77").As16()
	b.syncIn.Push(bad)
	bad = rec
	bad.LocalPort++
	b.syncIn.Push(bad)
	// A free port of this worker, for a client another worker owns here:
	// the client's packets would never reach this worker.
	bad = rec
	bad.LocalPort += 2
	for other := 1; ; other++ {
		bad.Client = addr("198.18.1." + strconv.Itoa(other)).As16()
		if standby.tables.Load().owners.ownerOf(&bad.Client, 128, 2) != b.ID {
			break
		}
	}
	b.syncIn.Push(bad)
	b.applySync()
	b.publish()
	if b.Stats.Count(CountSyncUnknown) != 4 || b.Stats.Count(CountSyncApplied) != 1 {
		t.Fatalf("applied %d, rejected %d, want 1 and 4", b.Stats.Count(CountSyncApplied), b.Stats.Count(CountSyncUnknown))
	}
}
