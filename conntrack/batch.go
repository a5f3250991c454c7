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
	var hashes, cands [lookupBatchMax]uint32
	slots, mask := t.index.slots, t.index.mask
	for i := range keys {
		h := uint32(hashTuple(&keys[i], &t.seed))
		hashes[i] = h
		home := h & mask
		prefetch(unsafe.Pointer(&slots[home]))
		if home%slotsPerLine >= slotsPerLine-2 { // a probe run of two or three often crosses into the next line
			prefetch(unsafe.Pointer(&slots[(home+2)&mask]))
		}
	}
	for i := range keys {
		c := t.candidate(hashes[i])
		cands[i] = c
		if c != 0 && c != candidateUnknown {
			prefetchPair(unsafe.Pointer(&t.recs[c>>1]))
		}
	}
	_ = refs[len(keys)-1]
	_ = dirs[len(keys)-1]
	for i := range keys {
		switch c := cands[i]; {
		case c == 0:
			refs[i], dirs[i] = 0, DirIn
		case c != candidateUnknown && t.recs[c>>1].matches(&keys[i], Dir(c&1)):
			refs[i], dirs[i] = Ref(c>>1), Dir(c&1)
		default: // a hash collision, or a run longer than candidate walks
			refs[i], dirs[i] = t.lookupHashed(&keys[i], hashes[i])
		}
	}
}

// slotsPerLine is how many index slots share a 64-byte cache line.
const slotsPerLine = 64 / 8

// candidateProbes bounds candidate's walk: past it the run has left the lines the batch loaded.
const candidateProbes = 6

// candidateUnknown is candidate's answer when its walk ended before the probe run did.
const candidateUnknown = ^uint32(0)

// candidate walks h's probe run for the first slot whose stored hash is h and returns its value (ref<<1 | dir):
// almost always the key's own slot. It returns 0 when the run ends first (the key is absent) and
// candidateUnknown after candidateProbes slots. At the index's load a key sits in its home slot only about half
// the time, so prefetching only the home slot's record left the other half to miss in full, one after another.
func (t *Table) candidate(h uint32) uint32 {
	slots, mask := t.index.slots, t.index.mask
	i := h & mask
	for range candidateProbes {
		s := slots[i]
		if s.val == 0 || s.hash == h {
			return s.val
		}
		i = (i + 1) & mask
	}
	return candidateUnknown
}
