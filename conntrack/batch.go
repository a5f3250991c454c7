package conntrack

import (
	"unsafe"

	"fastlvs/prefetch"
)

// BatchMax is how many keys a Batch holds.
const BatchMax = 64

// Batch is a receive batch's lookups between Prepare and Resolve.
//
// In a large table a lookup is two dependent cache misses (index slot, then record: 100-150 ns each on the
// project's machines). One at a time they cannot overlap. Prepare hashes every key and loads its home slot,
// then loads the candidate record of every key: each pass a run of independent loads the CPU keeps in flight
// together. Resolve then compares one key with its candidate, when the caller is about to use it: by then the
// work on the packets before it has hidden most of the wait. Both lines of the record are loaded: a reply's
// match reads the second (meta, Local), and so does the caller's packet path (the server ids).
type Batch struct {
	hashes, cands [BatchMax]uint32
}

// Prepare starts the lookup of keys[i] for every i (at most BatchMax keys).
func (t *Table) Prepare(b *Batch, keys []Tuple) {
	keys = keys[:min(len(keys), BatchMax)]
	slots, mask := t.index.slots, t.index.mask
	for i := range keys {
		h := uint32(hashTuple(&keys[i], &t.seed))
		b.hashes[i] = h
		home := h & mask
		prefetch.Line(unsafe.Pointer(&slots[home]))
		if home%slotsPerLine >= slotsPerLine-2 { // a probe run of two or three often crosses into the next line
			prefetch.Line(unsafe.Pointer(&slots[(home+2)&mask]))
		}
	}
	for i := range keys {
		c := t.candidate(b.hashes[i])
		b.cands[i] = c
		if c != 0 && c != candidateUnknown {
			prefetch.Pair(unsafe.Pointer(&t.recs[c>>1]))
		}
	}
}

// Resolve finishes the lookup of key, the i-th key given to Prepare, and answers as Lookup would now: the table
// may have changed since Prepare (a candidate is trusted only if it is a live conn with key's tuple in that
// direction, and a key found absent then is looked up again).
func (t *Table) Resolve(b *Batch, i int, key *Tuple) (Ref, Dir) {
	if c := b.cands[i]; c != 0 && c != candidateUnknown {
		ref, dir := c>>1, Dir(c&1)
		if r := &t.recs[ref]; r.meta&(metaUsed|metaTemplate) == metaUsed && r.matches(key, dir) &&
			(dir == DirIn || r.meta&metaHasOut != 0) {
			return Ref(ref), dir
		}
	}
	// A hash collision, a run longer than candidate walks, an absent key, or a table changed since Prepare.
	return t.lookupHashed(key, b.hashes[i])
}

// LookupBatch does Lookup for every key: refs[i], dirs[i] get the answer for keys[i] (refs and dirs must be at
// least as long as keys). It is Prepare and Resolve for a batch that needs every answer at once.
func (t *Table) LookupBatch(keys []Tuple, refs []Ref, dirs []Dir) {
	var b Batch
	for len(keys) > 0 {
		n := min(len(keys), BatchMax)
		t.Prepare(&b, keys[:n])
		for i := range n {
			refs[i], dirs[i] = t.Resolve(&b, i, &keys[i])
		}
		keys, refs, dirs = keys[n:], refs[n:], dirs[n:]
	}
}

// slotsPerLine is how many index slots share a 64-byte cache line.
const slotsPerLine = 64 / 8

// candidateProbes bounds candidate's walk: past it the run has left the lines Prepare loaded.
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
