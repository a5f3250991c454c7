package conntrack

// index is an open-addressing hash index with linear probing. A slot is 8 bytes: the low 32 bits of the key's
// hash (the home position is derived from them, and they filter most non-matching slots without touching the
// record) and a value (ref<<1 | dir for conns, ref for templates; 0 = empty).
//
// Deletion shifts later members of the probe run back (Knuth's algorithm R) instead of leaving tombstones, so
// probe lengths depend only on the current load, never on the history of inserts and removes, and no periodic
// rebuild is needed — a rebuild at 10M entries would stall a worker for tens of milliseconds.
type index struct {
	slots []slot
	mask  uint32
}

type slot struct {
	hash uint32
	val  uint32
}

// newIndex sizes the index for n members at a load factor of at most 0.7 (linear probing: ~1.8 probes per hit,
// ~5.6 per miss at 0.7, all in one or two 64-byte lines).
func newIndex(tab *Table, n int) index {
	size := indexSize(n)
	return index{slots: hugeSlice[slot](tab, size), mask: uint32(size - 1)}
}

func indexSize(n int) int {
	size := 16
	for size*7 < n*10 {
		size <<= 1
	}
	return size
}

// insertPos returns the first empty slot of h's probe run. The caller has checked for duplicates.
func (ix *index) insertPos(hash uint32) uint32 {
	i := hash & ix.mask
	for ix.slots[i].val != 0 {
		i = (i + 1) & ix.mask
	}
	return i
}

// find returns the position of the slot holding val, whose key hashed to hash, or false.
func (ix *index) find(hash, val uint32) (uint32, bool) {
	i := hash & ix.mask
	for {
		s := ix.slots[i]
		if s.val == 0 {
			return 0, false
		}
		if s.val == val {
			return i, true
		}
		i = (i + 1) & ix.mask
	}
}

// deleteAt empties slot i and moves back every later member of the run that may now sit closer to its home.
func (ix *index) deleteAt(i uint32) {
	mask := ix.mask
	j := i
	for {
		j = (j + 1) & mask
		s := ix.slots[j]
		if s.val == 0 {
			break
		}
		home := s.hash & mask
		// Move s into the hole when the hole lies on s's probe path: home ... hole ... j (cyclically).
		if (j-home)&mask >= (j-i)&mask {
			ix.slots[i] = s
			i = j
		}
	}
	ix.slots[i] = slot{}
}

func (ix *index) bytes() int { return len(ix.slots) * 8 }
