package conntrack

import "testing"

// lookupBoth checks that LookupBatch answers every key as Lookup does.
func lookupBoth(t *testing.T, tab *Table, keys []Tuple) {
	t.Helper()
	refs, dirs := make([]Ref, len(keys)), make([]Dir, len(keys))
	tab.LookupBatch(keys, refs, dirs)
	for i := range keys {
		if r, d := tab.Lookup(&keys[i]); refs[i] != r || dirs[i] != d {
			t.Fatalf("key %d: LookupBatch %d,%d, Lookup %d,%d", i, refs[i], dirs[i], r, d)
		}
	}
}

func TestLookupBatchPastTheCandidateWalk(t *testing.T) {
	tab, err := New(Config{Capacity: 1024, TemplateCapacity: 64, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Conns whose client tuples share one home slot: a probe run longer than candidateProbes.
	var keys []Tuple
	home := ^uint32(0)
	for i := uint32(0); len(keys) < 2*candidateProbes; i++ {
		c, in, _ := natConn(i, 6)
		h := uint32(hashTuple(&in, &tab.seed)) & tab.index.mask
		if home == ^uint32(0) {
			home = h
		}
		if h != home {
			continue
		}
		mustInsert(t, tab, &c, &in, nil, 0)
		keys = append(keys, in)
	}
	_, absent, _ := natConn(1<<30, 6) // hashes elsewhere: a plain miss
	lookupBoth(t, tab, append(keys, absent))
}

func TestLookupBatchThroughAFullHashCollision(t *testing.T) {
	tab, err := New(Config{Capacity: 1 << 16, TemplateCapacity: 64, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Two client tuples with the same 32-bit hash (a birthday search): the batch's candidate for the second is
	// the first's slot, which does not match, so it must walk on.
	seen := map[uint32]uint32{}
	var first, second uint32
	for i := uint32(0); ; i++ {
		_, in, _ := natConn(i, 17)
		h := uint32(hashTuple(&in, &tab.seed))
		if j, ok := seen[h]; ok {
			first, second = j, i
			break
		}
		seen[h] = i
	}
	var keys []Tuple
	for _, i := range []uint32{first, second} {
		c, in, _ := natConn(i, 17)
		mustInsert(t, tab, &c, &in, nil, 0)
		keys = append(keys, in)
	}
	lookupBoth(t, tab, keys)
	if r, _ := tab.Lookup(&keys[1]); r == 0 {
		t.Fatal("the second of two colliding conns is not found")
	}
}

func TestResolveAnswersAsOfNowAfterTheTableChanged(t *testing.T) {
	tab, err := New(Config{Capacity: 4, TemplateCapacity: 64, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	c1, in1, out1 := natConn(1, 6)
	ref1 := mustInsert(t, tab, &c1, &in1, &out1, 0)
	_, in2, _ := natConn(2, 6)
	keys := []Tuple{in1, out1, in2}
	var b Batch
	tab.Prepare(&b, keys)

	// Between Prepare and Resolve an earlier packet of the batch ends conn 1, and its record is reused for conn
	// 3; another creates conn 2.
	tab.Remove(ref1)
	c3, in3, out3 := natConn(3, 6)
	if ref3 := mustInsert(t, tab, &c3, &in3, &out3, 0); ref3 != ref1 {
		t.Fatalf("conn 3 took ref %d, not conn 1's %d: the test needs the reuse", ref3, ref1)
	}
	c2, _, out2 := natConn(2, 6)
	ref2 := mustInsert(t, tab, &c2, &in2, &out2, 0)
	for i, want := range []Ref{0, 0, ref2} {
		if r, _ := tab.Resolve(&b, i, &keys[i]); r != want {
			t.Fatalf("key %d resolved to %d, want %d", i, r, want)
		}
	}
}
