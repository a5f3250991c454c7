package conntrack

import "unsafe"

// lookupBatchMax bounds the scratch arrays LookupBatch keeps on the stack.
const lookupBatchMax = 64

// LookupBatch does Lookup for every key of a receive batch: refs[i], dirs[i] get the answer for keys[i]
// (refs and dirs must be at least as long as keys).
//
// In a large table a lookup is two dependent cache misses (index slot, then record: ~150 ns each on the
// project's machines). One at a time they cannot overlap; here the batch first hashes every key and loads
// its home slot, then loads the first candidate record of every key, each pass a run of independent loads
// the CPU keeps in flight together, and only then probes and compares with the data in cache. Both lines of
// the record are loaded: a reply's match reads the second (meta, Local), and so does the caller's packet path
// (the server ids).
func (t *Table) LookupBatch(keys []Tuple, refs []Ref, dirs []Dir) {
	for len(keys) > 0 {
		n := min(len(keys), lookupBatchMax)
		t.lookupChunk(keys[:n], refs[:n], dirs[:n])
		keys, refs, dirs = keys[n:], refs[n:], dirs[n:]
	}
}

func (t *Table) lookupChunk(keys []Tuple, refs []Ref, dirs []Dir) {
	var hashes [lookupBatchMax]uint32
	slots, mask := t.index.slots, t.index.mask
	for i := range keys {
		h := uint32(hashTuple(&keys[i], &t.seed))
		hashes[i] = h
		prefetch(unsafe.Pointer(&slots[h&mask]))
	}
	for i := range keys {
		if s := slots[hashes[i]&mask]; s.val != 0 && s.hash == hashes[i] {
			prefetchPair(unsafe.Pointer(&t.recs[s.val>>1]))
		}
	}
	_ = refs[len(keys)-1]
	_ = dirs[len(keys)-1]
	for i := range keys {
		refs[i], dirs[i] = t.lookupHashed(&keys[i], hashes[i])
	}
}
