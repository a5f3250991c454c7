package conntrack

// lookupBatchMax bounds the scratch arrays LookupBatch keeps on the stack.
const lookupBatchMax = 64

// LookupBatch does Lookup for every key of a receive batch: refs[i], dirs[i] get the answer for keys[i]
// (refs and dirs must be at least as long as keys).
//
// In a large table a lookup is two dependent cache misses (index slot, then record: ~150 ns each on the
// project's machines). One at a time they cannot overlap; here the batch first hashes every key and loads
// its home slot, then loads the first candidate record of every key, each pass a run of independent loads
// the CPU keeps in flight together, and only then probes and compares with the data in cache.
func (t *Table) LookupBatch(keys []Tuple, refs []Ref, dirs []Dir) {
	for len(keys) > 0 {
		n := min(len(keys), lookupBatchMax)
		t.lookupChunk(keys[:n], refs[:n], dirs[:n])
		keys, refs, dirs = keys[n:], refs[n:], dirs[n:]
	}
}

func (t *Table) lookupChunk(keys []Tuple, refs []Ref, dirs []Dir) {
	var hashes [lookupBatchMax]uint32
	var home [lookupBatchMax]slot
	slots, mask := t.index.slots, t.index.mask
	for i := range keys {
		hashes[i] = uint32(hashTuple(&keys[i], &t.seed))
	}
	// Tight loops of independent loads: as many misses in flight as the core allows.
	for i := range keys {
		home[i] = slots[hashes[i]&mask]
	}
	sink := t.sink
	for i := range keys {
		if s := home[i]; s.val != 0 && s.hash == hashes[i] {
			r := &t.recs[s.val>>1]
			sink ^= r.Proto // the first line holds both NAT keys
		}
	}
	t.sink = sink
	_ = refs[len(keys)-1]
	_ = dirs[len(keys)-1]
	for i := range keys {
		refs[i], dirs[i] = t.lookupHashed(&keys[i], hashes[i])
	}
}
