package dataplane

import (
	"testing"
	"time"

	"fastlvs/conntrack"
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
