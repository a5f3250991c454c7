package conntrack

import "testing"

// smallIndexes makes every conn index of a test start at slots and move onInsert slots per Insert and
// onExpire per Expire, so moves start early and span many operations.
func smallIndexes(t *testing.T, slots, onInsert, onExpire int) {
	t.Helper()
	was := [3]int{initialIndexSlots, moveOnInsert, moveOnExpire}
	initialIndexSlots, moveOnInsert, moveOnExpire = slots, onInsert, onExpire
	t.Cleanup(func() { initialIndexSlots, moveOnInsert, moveOnExpire = was[0], was[1], was[2] })
}

// TestModelWhileTheIndexMoves: the model run (inserts, lookups, batch lookups, removals, expiry, eviction under
// pressure) agrees with the map while the conn index moves from its small start to its full size.
func TestModelWhileTheIndexMoves(t *testing.T) {
	// The model expires every 500 steps: moving only then, one slot at a time, the move of a 64-slot start
	// spans most of the run, and lookups, removals and evictions meet members on both sides of it.
	smallIndexes(t, 64, 0, 1)
	for _, run := range []struct {
		seed     uint64
		capacity int
		evict    bool
	}{{10, 300, false}, {11, 300, false}, {12, 40, true}} {
		runModel(t, run.seed, run.capacity, run.evict)
	}
}

// TestIndexStartsSmallAndMoves: a large table's conn index starts small, moves once it passes the load factor,
// finds every conn during and after the move, and forgets the removed ones.
func TestIndexStartsSmallAndMoves(t *testing.T) {
	smallIndexes(t, 16, 1, 1)
	tab := newTable(t, 300)
	if len(tab.index.slots) != 16 || len(tab.index.full) != indexSize(600) {
		t.Fatalf("index starts with %d slots and %d reserved, want 16 and %d", len(tab.index.slots), len(tab.index.full), indexSize(600))
	}
	const conns = 100
	refs := make([]Ref, conns)
	moving := false
	for i := range uint32(conns) {
		c, in, out := natConn(i, 6)
		refs[i] = mustInsert(t, tab, &c, &in, &out, 0)
		moving = moving || tab.index.old != nil
		for j := range i + 1 { // every conn so far, both directions, wherever its slots are now
			if refs[j] == 0 {
				continue // removed: checked below
			}
			_, in, out := natConn(j, 6)
			if r, d := tab.Lookup(&in); r != refs[j] || d != DirIn {
				t.Fatalf("after %d inserts: conn %d in = %d/%v, want %d", i+1, j, r, d, refs[j])
			}
			if r, d := tab.Lookup(&out); r != refs[j] || d != DirOut {
				t.Fatalf("after %d inserts: conn %d out = %d/%v, want %d", i+1, j, r, d, refs[j])
			}
		}
		if i%3 == 0 { // remove some while the move runs, from either side
			_, in, _ := natConn(i/2, 6)
			if r, _ := tab.Lookup(&in); r != 0 && i/2 < i {
				tab.Remove(r)
				refs[i/2] = 0
			}
		}
		for j := range i + 1 {
			if refs[j] != 0 {
				continue
			}
			_, in, out := natConn(j, 6)
			if r, _ := tab.Lookup(&in); r != 0 {
				t.Fatalf("removed conn %d still found in", j)
			}
			if r, _ := tab.Lookup(&out); r != 0 {
				t.Fatalf("removed conn %d still found out", j)
			}
		}
	}
	if !moving {
		t.Fatal("100 conns never started the move")
	}
	for tab.index.old != nil {
		tab.Expire(0, 1, nil)
	}
	if tab.index.full != nil || len(tab.index.slots) != indexSize(600) {
		t.Fatalf("after the move: %d slots, %d still reserved", len(tab.index.slots), len(tab.index.full))
	}
	for j, ref := range refs {
		_, in, _ := natConn(uint32(j), 6)
		if r, _ := tab.Lookup(&in); r != ref {
			t.Fatalf("after the move: conn %d = %d, want %d", j, r, ref)
		}
	}
}
