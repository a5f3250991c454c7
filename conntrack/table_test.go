package conntrack

import (
	"errors"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Capacity: 0}, {Capacity: -1}, {Capacity: 10, TemplateCapacity: -1}, {Capacity: MaxCapacity}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestLookupBothDirectionsNAT(t *testing.T) {
	tab := newTable(t, 16)
	c, in, out := natConn(1, 6)
	ref := mustInsert(t, tab, &c, &in, &out, 0)
	if r, d := tab.Lookup(&in); r != ref || d != DirIn {
		t.Fatalf("lookup in = %d,%d want %d,DirIn", r, d, ref)
	}
	if r, d := tab.Lookup(&out); r != ref || d != DirOut {
		t.Fatalf("lookup out = %d,%d want %d,DirOut", r, d, ref)
	}
	got := tab.Conn(ref)
	if got.Client != c.Client || got.RealPort != 8080 || got.ServiceID != 7 || got.RealID != 3 || got.State != StateNone {
		t.Fatalf("record = %+v", got)
	}
	other := in
	other.SrcPort++
	if r, _ := tab.Lookup(&other); r != 0 {
		t.Fatalf("lookup of absent tuple = %d", r)
	}
	if tab.Len() != 1 {
		t.Fatalf("len = %d", tab.Len())
	}
}

func TestLookupFullNATAndDR(t *testing.T) {
	tab := newTable(t, 16)
	c := Conn{Client: addr6(1), ClientPort: 5000, Virtual: addr6(2), VirtualPort: 443, Real: addr6(3), RealPort: 443,
		Local: addr6(4), LocalPort: 40001, Proto: 6}
	in := Tuple{Src: c.Client, Dst: c.Virtual, SrcPort: 5000, DstPort: 443, Proto: 6}
	out := Tuple{Src: c.Real, Dst: c.Local, SrcPort: 443, DstPort: 40001, Proto: 6}
	ref := mustInsert(t, tab, &c, &in, &out, 0)
	if r, d := tab.Lookup(&out); r != ref || d != DirOut {
		t.Fatalf("fullnat reply lookup = %d,%d", r, d)
	}
	natReply := Tuple{Src: c.Real, Dst: c.Client, SrcPort: 443, DstPort: 5000, Proto: 6}
	if r, _ := tab.Lookup(&natReply); r != 0 {
		t.Fatalf("fullnat conn answered a NAT-shaped reply")
	}

	dr, drIn, _ := natConn(2, 17)
	drRef := mustInsert(t, tab, &dr, &drIn, nil, 0)
	if tab.Conn(drRef).State != StateUDP {
		t.Fatalf("udp conn state = %v", tab.Conn(drRef).State)
	}
	reply := Tuple{Src: dr.Real, Dst: dr.Client, SrcPort: dr.RealPort, DstPort: dr.ClientPort, Proto: 17}
	if r, _ := tab.Lookup(&reply); r != 0 {
		t.Fatalf("dr conn indexed a reply tuple")
	}
	tab.Remove(ref)
	tab.Remove(drRef)
	if tab.Len() != 0 {
		t.Fatalf("len after removes = %d", tab.Len())
	}
	for _, k := range []*Tuple{&in, &out, &drIn} {
		if r, _ := tab.Lookup(k); r != 0 {
			t.Fatalf("lookup after remove = %d", r)
		}
	}
}

func TestInsertErrors(t *testing.T) {
	tab := newTable(t, 16)
	c, in, out := natConn(1, 6)
	mustInsert(t, tab, &c, &in, &out, 0)
	if _, err := tab.Insert(&c, &in, &out, 0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate insert: %v", err)
	}
	c2, in2, _ := natConn(2, 6)
	if _, err := tab.Insert(&c2, &in2, &out, 0); !errors.Is(err, ErrTupleMismatch) {
		t.Errorf("reply tuple of another conn: %v", err)
	}
	if _, err := tab.Insert(&c2, &in, nil, 0); !errors.Is(err, ErrTupleMismatch) {
		t.Errorf("inbound tuple of another conn: %v", err)
	}
	// Same reply tuple as the first conn (a clash a FULLNAT port allocator must avoid) is refused.
	c3, in3, _ := natConn(3, 6)
	c3.Real, c3.RealPort, c3.Client, c3.ClientPort = c.Real, c.RealPort, c.Client, c.ClientPort
	c3.VirtualPort = 81
	in3 = inTupleOf(&c3)
	if _, err := tab.Insert(&c3, &in3, &out, 0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate reply tuple: %v", err)
	}
	c2.Template = 99
	if _, err := tab.Insert(&c2, &in2, nil, 0); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("bad template: %v", err)
	}
	if tab.Len() != 1 {
		t.Errorf("failed inserts changed len to %d", tab.Len())
	}
}

func TestFullTableDropsNewAndKeepsEstablished(t *testing.T) {
	tab := newTable(t, 4)
	var refs []Ref
	for i := range uint32(4) {
		c, in, out := natConn(i, 6)
		ref := mustInsert(t, tab, &c, &in, &out, 0)
		tab.Update(ref, DirIn, syn, false, 0)
		tab.Update(ref, DirOut, synAck, false, 0)
		tab.Update(ref, DirIn, ack, false, 0)
		refs = append(refs, ref)
	}
	for i := range uint32(3) {
		c, in, out := natConn(100+i, 6)
		if ref, err := tab.Insert(&c, &in, &out, sec); err != ErrFull || ref != 0 {
			t.Fatalf("insert into full table = %d, %v", ref, err)
		}
	}
	if s := tab.Stats(); s.Full != 3 || s.Conns != 4 {
		t.Fatalf("stats = %+v, want Full 3, Conns 4", s)
	}
	for i, ref := range refs {
		_, in, out := natConn(uint32(i), 6)
		if r, _ := tab.Lookup(&in); r != ref || tab.Conn(ref).State != StateEstablished {
			t.Fatalf("established conn %d disturbed", i)
		}
		if r, _ := tab.Lookup(&out); r != ref {
			t.Fatalf("established conn %d reply disturbed", i)
		}
	}
	// One slot freed: exactly one more insert fits.
	tab.Remove(refs[0])
	c, in, out := natConn(200, 6)
	mustInsert(t, tab, &c, &in, &out, sec)
	if _, err := tab.Insert(&c, &in, &out, sec); err == nil {
		t.Fatal("second insert after one remove succeeded")
	}
}

func TestRemoveThenReinsert(t *testing.T) {
	tab := newTable(t, 8)
	c, in, out := natConn(5, 6)
	for round := range 5 {
		ref := mustInsert(t, tab, &c, &in, &out, int64(round)*sec)
		if r, _ := tab.Lookup(&out); r != ref {
			t.Fatalf("round %d: lookup = %d want %d", round, r, ref)
		}
		tab.Remove(ref)
		tab.Remove(ref) // second remove of a free ref is harmless
		if r, _ := tab.Lookup(&in); r != 0 {
			t.Fatalf("round %d: still found after remove", round)
		}
	}
	if tab.Len() != 0 || len(collect(tab, 10000*sec)) != 0 {
		t.Fatal("removed conns left timers behind")
	}
}

func TestTimeoutsFollowState(t *testing.T) {
	tab := newTable(t, 16)
	c, in, out := natConn(1, 6)
	ref := mustInsert(t, tab, &c, &in, &out, 0)
	// NONE: 2 s.
	if got := tab.ExpiresAt(ref); got < 2*sec || got > 2*sec+tickNanos {
		t.Fatalf("NONE expiry %v", time.Duration(got))
	}
	old, now := tab.Update(ref, DirIn, syn, false, sec)
	if old != StateNone || now != StateSynRecv {
		t.Fatalf("syn: %v→%v", old, now)
	}
	if got := tab.ExpiresAt(ref); got < 61*sec || got > 61*sec+tickNanos {
		t.Fatalf("SYN_RECV expiry %v", time.Duration(got))
	}
	tab.Update(ref, DirOut, synAck, false, sec)
	if old, now = tab.Update(ref, DirIn, ack, false, 2*sec); old != StateSynRecv || now != StateEstablished {
		t.Fatalf("ack: %v→%v", old, now)
	}
	if got := tab.ExpiresAt(ref); got < 902*sec || got > 902*sec+tickNanos {
		t.Fatalf("ESTABLISHED expiry %v", time.Duration(got))
	}
	// ESTABLISHED→CLOSE shortens the deadline to 10 s: the conn must go at 13 s, not 900 s later.
	tab.Update(ref, DirIn, rst, false, 3*sec)
	if got := collect(tab, 12*sec); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := collect(tab, 13*sec+tickNanos); len(got) != 1 || got[0] != ref {
		t.Fatalf("CLOSE conn not expired at 13 s: %v", got)
	}
}

func TestSetTimeoutsLikeIpvsadmSet(t *testing.T) {
	tab := newTable(t, 16)
	tab.SetTimeouts(Timeouts{Established: 60 * time.Second, FinWait: 30 * time.Second, UDP: 20 * time.Second})
	to := tab.Timeouts()
	if to.Established != 60*time.Second || to.FinWait != 30*time.Second || to.UDP != 20*time.Second ||
		to.SynRecv != 60*time.Second || to.Close != 10*time.Second {
		t.Fatalf("timeouts after set = %+v", to)
	}
	c, in, _ := natConn(1, 17)
	ref := mustInsert(t, tab, &c, &in, nil, 0)
	if got := tab.ExpiresAt(ref); got < 20*sec || got > 20*sec+tickNanos {
		t.Fatalf("UDP expiry %v, want 20 s", time.Duration(got))
	}
	tab.SetTimeouts(Timeouts{UDP: 5 * time.Second})
	if tab.Timeouts().Established != 60*time.Second {
		t.Fatal("zero field changed a timeout")
	}
	// Already armed timers keep their deadline until re-armed.
	if got := collect(tab, 10*sec); len(got) != 0 {
		t.Fatal("armed timer changed by SetTimeouts")
	}
	tab.Touch(ref, 10*sec)
	if got := collect(tab, 15*sec+tickNanos); len(got) != 1 {
		t.Fatal("touch did not re-arm with the new UDP timeout")
	}
}

func TestTouchKeepsUDPAlive(t *testing.T) {
	tab := newTable(t, 16)
	tab.SetTimeouts(Timeouts{UDP: 10 * time.Second})
	c, in, out := natConn(1, 17)
	ref := mustInsert(t, tab, &c, &in, &out, 0)
	for now := int64(0); now < 100*sec; now += 5 * sec {
		tab.Touch(ref, now)
		if got := collect(tab, now); len(got) != 0 {
			t.Fatalf("touched conn expired at %v", time.Duration(now))
		}
	}
	if got := collect(tab, 95*sec+10*sec+tickNanos); len(got) != 1 || got[0] != ref {
		t.Fatalf("idle conn not expired: %v", got)
	}
	if r, _ := tab.Lookup(&out); r != 0 {
		t.Fatal("expired conn still indexed")
	}
}

func TestExpireOrderAndBudget(t *testing.T) {
	tab := newTable(t, 1024)
	tab.SetTimeouts(Timeouts{UDP: 1 * time.Second})
	// Conn i is inserted at i*0.5 s (reverse of ref order would be wrong order if the wheel were a stack).
	var order []Ref
	for i := range uint32(100) {
		c, in, _ := natConn(i, 17)
		order = append(order, mustInsert(t, tab, &c, &in, nil, int64(i)*sec/2))
	}
	var got []Ref
	calls := 0
	for now := int64(0); now < 60*sec; now += sec / 8 {
		n := tab.Expire(now, 3, func(ref Ref, c *Conn) {
			if c.Proto != 17 || c.ServiceID != 7 {
				t.Fatalf("callback saw a freed record %+v", c)
			}
			if deadline := tab.ExpiresAt(ref); deadline > now {
				t.Fatalf("conn expired at %v before its deadline %v", time.Duration(now), time.Duration(deadline))
			}
			got = append(got, ref)
		})
		if n > 3 {
			t.Fatalf("Expire did %d expiries with budget 3", n)
		}
		calls++
	}
	if len(got) != 100 {
		t.Fatalf("expired %d of 100", len(got))
	}
	for i := range got {
		if got[i] != order[i] {
			t.Fatalf("expiry order differs at %d: %v", i, got[:i+1])
		}
	}
	if tab.Len() != 0 || tab.Stats().Expired != 100 {
		t.Fatalf("after expiry: %+v", tab.Stats())
	}
}

func TestExpireBudgetResumesMidSlot(t *testing.T) {
	tab := newTable(t, 1024)
	tab.SetTimeouts(Timeouts{UDP: time.Second})
	for i := range uint32(500) {
		c, in, _ := natConn(i, 17)
		mustInsert(t, tab, &c, &in, nil, 0) // all in one slot
	}
	now := 2 * sec
	total := 0
	for range 1000 {
		n := tab.Expire(now, 7, nil)
		if n > 7 {
			t.Fatalf("budget 7 expired %d", n)
		}
		total += n
		if total == 500 {
			break
		}
	}
	if total != 500 || tab.Len() != 0 {
		t.Fatalf("expired %d, len %d", total, tab.Len())
	}
}

func TestLongIdleAndLongTimeouts(t *testing.T) {
	tab := newTable(t, 16)
	// A timeout longer than one wheel revolution (~1100 s) survives its slot's earlier visits.
	tab.SetTimeouts(Timeouts{UDP: 3000 * time.Second})
	c, in, _ := natConn(1, 17)
	ref := mustInsert(t, tab, &c, &in, nil, 0)
	for now := int64(0); now < 2999*sec; now += 7 * sec {
		if got := collect(tab, now); len(got) != 0 {
			t.Fatalf("expired at %v", time.Duration(now))
		}
	}
	if got := collect(tab, 3001*sec); len(got) != 1 || got[0] != ref {
		t.Fatalf("long timeout not expired: %v", got)
	}
	// A worker that did not call Expire for hours still expires everything in one pass.
	c2, in2, _ := natConn(2, 17)
	mustInsert(t, tab, &c2, &in2, nil, 3002*sec)
	if got := collect(tab, 20000*sec); len(got) != 1 {
		t.Fatalf("after a long sleep: %v", got)
	}
}

func TestRangeListsConnsAndTemplates(t *testing.T) {
	tab := newTable(t, 16)
	c, in, out := natConn(1, 6)
	cref := mustInsert(t, tab, &c, &in, &out, 0)
	tk := TemplateKey{Client: c.Client, Virtual: c.Virtual, VirtualPort: 80, Proto: 6}
	tref, err := tab.InsertTemplate(&tk, 7, 3, 360*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Ref]bool{}
	tab.Range(func(ref Ref, rc *Conn, expiresAt int64) bool {
		seen[ref] = true
		if ref == tref && (!rc.IsTemplate() || expiresAt < 360*sec) {
			t.Errorf("template listed as %+v expiring %v", rc, expiresAt)
		}
		if ref == cref && (rc.IsTemplate() || expiresAt < 2*sec) {
			t.Errorf("conn listed as %+v expiring %v", rc, expiresAt)
		}
		return true
	})
	if len(seen) != 2 || !seen[cref] || !seen[tref] {
		t.Fatalf("range saw %v", seen)
	}
	n := 0
	tab.Range(func(Ref, *Conn, int64) bool { n++; return false })
	if n != 1 {
		t.Fatalf("range did not stop: %d", n)
	}
}

// TestRangeFromPages: paging through the table 3 slots at a time visits
// every conn once and ends with 0.
func TestRangeFromPages(t *testing.T) {
	tab := newTable(t, 16)
	for i := range 10 {
		c, in, out := natConn(uint32(i+1), 6)
		mustInsert(t, tab, &c, &in, &out, 0)
	}
	seen := map[Ref]int{}
	calls := 0
	for from := Ref(1); ; calls++ {
		if from = tab.RangeFrom(from, 3, func(ref Ref, _ *Conn, _ int64) bool { seen[ref]++; return true }); from == 0 {
			break
		}
	}
	if len(seen) != 10 || calls < 4 {
		t.Fatalf("%d calls saw %v", calls, seen)
	}
	for ref, n := range seen {
		if n != 1 {
			t.Fatalf("ref %d seen %d times", ref, n)
		}
	}
}

func TestMemoryBudget(t *testing.T) {
	// The budget: 10M conns per director in at most 2 GiB including indexes, at most 200 bytes/conn.
	cfg := Config{Capacity: 10_000_000}
	total := MemoryFor(cfg)
	if perConn := float64(total) / float64(cfg.Capacity); total > 2<<30 || perConn > 200 {
		t.Fatalf("10M conns need %d bytes (%.1f bytes/conn)", total, perConn)
	}
	small := Config{Capacity: 100_000, TemplateCapacity: 1000}
	tab, err := New(small)
	if err != nil {
		t.Fatal(err)
	}
	if tab.MemoryBytes() != MemoryFor(small) || tab.Capacity() != 100_000 {
		t.Fatalf("MemoryBytes %d, MemoryFor %d, capacity %d", tab.MemoryBytes(), MemoryFor(small), tab.Capacity())
	}
}

// Records left on the slot being visited when the budget ran out can still be removed, re-armed or re-inserted.
func TestChangesWhileExpireIsMidSlot(t *testing.T) {
	tab := newTable(t, 64)
	tab.SetTimeouts(Timeouts{UDP: time.Second})
	var refs []Ref
	for i := range uint32(10) {
		c, in, _ := natConn(i, 17)
		refs = append(refs, mustInsert(t, tab, &c, &in, nil, 0))
	}
	now := 2 * sec
	var expired []Ref
	onExpire := func(ref Ref, _ *Conn) { expired = append(expired, ref) }
	// Walk ticks up to the slot, then 3 records of it.
	for tab.Expire(now, 1, onExpire) == 0 {
	}
	tab.Expire(now, 2, onExpire)
	if len(expired) != 3 {
		t.Fatalf("expired %d, want 3 mid-slot", len(expired))
	}
	gone := map[Ref]bool{}
	for _, r := range expired {
		gone[r] = true
	}
	var left []Ref
	for _, r := range refs {
		if !gone[r] {
			left = append(left, r)
		}
	}
	tab.Remove(left[0])          // removed from the pending list
	tab.Touch(left[1], now)      // re-armed: must survive this pass
	c, in, _ := natConn(100, 17) // reuses left[0]'s record
	fresh := mustInsert(t, tab, &c, &in, nil, now)
	tab.Expire(now, 1000, onExpire)
	if len(expired) != 8 {
		t.Fatalf("expired %d, want 8 (10 - removed - touched)", len(expired))
	}
	if r, _ := tab.Lookup(&in); r != fresh || tab.Len() != 2 {
		t.Fatalf("after mid-slot changes: lookup %d want %d, len %d", r, fresh, tab.Len())
	}
	if got := collect(tab, now+2*sec); len(got) != 2 {
		t.Fatalf("touched and fresh conns: %v", got)
	}
}
