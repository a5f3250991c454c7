package conntrack

import (
	"testing"
	"time"
)

func TestHotPathDoesNotAllocate(t *testing.T) {
	tab := newTable(t, 4096)
	tab.SetTimeouts(Timeouts{UDP: time.Second})
	var i uint32
	now := int64(0)
	onExpire := func(Ref, *Conn) {}
	k := templateKey(1)
	allocs := testing.AllocsPerRun(2000, func() {
		i++
		now += sec / 100
		c, in, out := natConn(i, 17)
		ref, err := tab.Insert(&c, &in, &out, now)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := tab.Lookup(&out); r != ref {
			t.Fatal("lookup")
		}
		keys := [2]Tuple{in, out}
		var refs [2]Ref
		var dirs [2]Dir
		tab.LookupBatch(keys[:], refs[:], dirs[:])
		if refs[0] != ref || dirs[1] != DirOut {
			t.Fatal("lookup batch")
		}
		tab.Update(ref, DirOut, ack, false, now)
		tab.Touch(ref, now)
		tab.Expire(now, 64, onExpire)
		if _, err := tab.Insert(&c, &in, &out, now); err != ErrExists {
			t.Fatal("duplicate accepted")
		}
		if _, _, ok := tab.LookupTemplate(&k, now); !ok {
			if _, err := tab.InsertTemplate(&k, 1, 1, time.Second, now); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("hot path allocates %.1f times per packet", allocs)
	}
	full := newTable(t, 1)
	c, in, _ := natConn(1, 6)
	mustInsert(t, full, &c, &in, nil, 0)
	c2, in2, _ := natConn(2, 6)
	if a := testing.AllocsPerRun(100, func() { full.Insert(&c2, &in2, nil, 0) }); a != 0 {
		t.Fatalf("ErrFull path allocates %.1f", a)
	}

	// Under pressure: short timeouts, and every insert into the full table evicts (the unanswered UDP flood too).
	flooded := newTable(t, 64)
	flooded.SetEvictHook(func(Ref, *Conn) {})
	synFlood(t, flooded, 0, 64, 0)
	var n uint32 = 1000
	allocs = testing.AllocsPerRun(1000, func() {
		n++
		c, in, out := natConn(n, 17)
		ref, err := flooded.Insert(&c, &in, &out, sec)
		if err != nil {
			t.Fatal(err)
		}
		flooded.Update(ref, DirIn, 0, false, sec)
		flooded.Touch(ref, sec)
	})
	if allocs != 0 || flooded.Stats().EvictedEmbryonic < 1000 {
		t.Fatalf("evicting insert allocates %.1f (%d evicted)", allocs, flooded.Stats().EvictedEmbryonic)
	}
}
