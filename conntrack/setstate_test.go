package conntrack

import (
	"net/netip"
	"testing"
	"time"
)

func TestSetStateRearmsWithTheNewStatesTimeout(t *testing.T) {
	tbl, err := New(Config{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	c := Conn{
		Client: netip.MustParseAddr("198.18.1.5").As16(), ClientPort: 40000,
		Virtual: netip.MustParseAddr("198.18.0.10").As16(), VirtualPort: 80,
		Real: netip.MustParseAddr("198.18.2.2").As16(), RealPort: 80, Proto: 6,
	}
	in := Tuple{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort, Proto: 6}
	now := int64(time.Hour)
	ref, err := tbl.Insert(&c, &in, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if old := tbl.SetState(ref, StateEstablished, now); old != StateNone {
		t.Fatalf("old state %v, want NONE", old)
	}
	// NONE would have expired after 2 s; ESTABLISHED lives 900 s.
	tbl.Expire(now+int64(10*time.Second), 1<<20, func(Ref, *Conn) {})
	if got, _ := tbl.Lookup(&in); got != ref || tbl.Conn(ref).State != StateEstablished {
		t.Fatalf("conn gone or wrong state after 10 s: ref %d", got)
	}
	expired := 0
	tbl.Expire(now+int64(901*time.Second), 1<<20, func(Ref, *Conn) { expired++ })
	if expired != 1 {
		t.Fatalf("expired %d after 901 s, want 1", expired)
	}
}
