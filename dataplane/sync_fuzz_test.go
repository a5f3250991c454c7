package dataplane

import (
	"testing"

	"fastlvs/conntrack"
)

// syncFuzzAddrs are the addresses a fuzzed record picks from by index: the
// services' own, strangers, both families and the zero address, so valid
// and nearly valid records are both easy to reach.
var syncFuzzAddrs = [][16]byte{
	{},
	addr("198.18.1.5").As16(), addr("198.18.0.20").As16(), addr("198.18.2.2").As16(), addr("198.18.2.3").As16(),
	addr("198.18.0.30").As16(), addr("198.18.3.1").As16(), addr("198.18.3.2").As16(), addr("198.18.3.77").As16(),
	addr("2001:2:1::5").As16(), addr("2001:2::30").As16(), addr("2001:2:2::2").As16(), addr("2001:2:3::1").As16(),
	addr("198.18.0.10").As16(),
}

// syncFuzzSpec has NAT, DR and FULLNAT services side by side.
func syncFuzzSpec() TableSpec {
	spec := testSpec()
	spec.Services = append(spec.Services, fullnatSpec().Services...)
	return spec
}

// FuzzSyncApply applies arbitrary peer records to a worker of a director
// with NAT, DR and FULLNAT services, each twice and then as an update of
// another state. No record may panic; whatever the table holds afterwards
// is a connection of a configured service and real server in a valid
// state, and every FULLNAT local port is either free in its pool or held by
// exactly one connection.
func FuzzSyncApply(f *testing.F) {
	f.Add(uint8(1), uint8(2), uint8(3), uint8(0), uint16(40000), uint16(80), uint16(8080), uint16(0), uint8(6), uint8(1), uint8(2))
	f.Add(uint8(1), uint8(5), uint8(3), uint8(6), uint16(40000), uint16(80), uint16(8080), uint16(2000), uint8(6), uint8(3), uint8(1))
	f.Add(uint8(1), uint8(5), uint8(4), uint8(7), uint16(40000), uint16(53), uint16(5353), uint16(1025), uint8(17), uint8(11), uint8(11))
	f.Add(uint8(9), uint8(10), uint8(11), uint8(12), uint16(40000), uint16(80), uint16(8080), uint16(4000), uint8(6), uint8(200), uint8(1))
	f.Fuzz(func(t *testing.T, client, virtual, real, local uint8, cport, vport, rport, lport uint16, proto, state, state2 uint8) {
		pick := func(i uint8) [16]byte { return syncFuzzAddrs[int(i)%len(syncFuzzAddrs)] }
		d := newMemDataplane(t, syncFuzzSpec(), 1, 64)
		enableMemSync(d)
		w := d.Workers[0]
		rec := SyncRecord{
			Client: pick(client), Virtual: pick(virtual), Real: pick(real), Local: pick(local),
			ClientPort: cport, VirtualPort: vport, RealPort: rport, LocalPort: lport,
			Proto: proto, State: conntrack.State(state),
		}
		w.syncIn.Push(rec)
		w.syncIn.Push(rec)
		rec.State = conntrack.State(state2)
		w.syncIn.Push(rec)
		w.applySync()
		checkSyncedTable(t, w)
	})
}

// checkSyncedTable checks what FuzzSyncApply promises of w's table.
func checkSyncedTable(t *testing.T, w *Worker) {
	held := map[conntrack.Tuple]bool{}
	w.conns.Range(func(_ conntrack.Ref, c *conntrack.Conn, _ int64) bool {
		if c.IsTemplate() {
			return true
		}
		if !c.State.Valid(c.Proto) {
			t.Fatalf("connection in state %d for protocol %d", c.State, c.Proto)
		}
		svc := w.table.lookupService(&c.Virtual, c.VirtualPort, c.Proto)
		if svc == nil || svc.State.ID != c.ServiceID || uint8(svc.Spec.Method) != c.Forward {
			t.Fatalf("connection %+v of no configured service", c)
		}
		found := false
		for _, r := range svc.reals {
			found = found || (r.ID == c.RealID && r.Addr == c.Real)
		}
		if !found {
			t.Fatalf("connection %+v to a real server its service does not have", c)
		}
		if Method(c.Forward) == MethodFullNAT {
			reply := conntrack.Tuple{Src: c.Real, Dst: c.Local, SrcPort: c.RealPort, DstPort: c.LocalPort, Proto: c.Proto}
			if held[reply] {
				t.Fatalf("two connections hold local %v:%d towards one real server", c.Local, c.LocalPort)
			}
			held[reply] = true
		}
		return true
	})
}
