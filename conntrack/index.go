package conntrack

// index is an open-addressing hash index with linear probing. A slot is 8 bytes: the low 32 bits of the key's
// hash (the home position is derived from them, and they filter most non-matching slots without touching the
// record) and a value (ref<<1 | dir for conns, ref for templates; 0 = empty).
//
// Deletion shifts later members of the probe run back (Knuth's algorithm R) instead of leaving tombstones, so
// probe lengths depend only on the current load, never on the history of inserts and removes, and no periodic
// rebuild is needed — a rebuild at 10M entries would stall a worker for tens of milliseconds. The one exception
// is the small index a large conn index starts with: during its single move to full size its slots only empty,
// so tombstones there cost nothing later (see the fields below).
type index struct {
	slots []slot
	mask  uint32
	count int // members in slots, while a move may still come (full != nil)

	// A conn index sized for a large capacity starts with initialIndexSlots and moves to its full size, reserved
	// at New, when it passes the load factor (see newGrowingIndex). During the move, old holds the members not
	// moved yet: a few move per Insert and per Expire, lookups search slots and then old, and deleting from old
	// leaves a tombstone so its probe runs stay whole.
	full    []slot // the full-size slots, until the move starts
	old     []slot // the small slots, during the move
	oldMask uint32
	cursor  uint32 // the next old slot to move
}

// tombstone marks an old slot whose member moved or was deleted: probing goes on past it.
const tombstone = ^uint32(0)

// initialIndexSlots is where a large conn index starts: 512 KB, a few thousand lines a worker's cache keeps
// between batches. Sized for the capacity instead, a table far from full spreads its conns one to a line over
// megabytes, and in copy mode, where NAPI's work on the same core evicts them between batches, preparing a
// batch's lookups measured 52-89 ns per packet at 1,000 flows in a table for 262,144 against 15-16 in one for
// 4,096. A variable so tests can make moves frequent.
var initialIndexSlots = 1 << 16

// moveOnInsert and moveOnExpire are how many old slots a move advances per Insert and per Expire call: with
// a few per packet that creates a conn, the move ends before the full index fills past its load factor.
var moveOnInsert, moveOnExpire = 16, 256

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

// newGrowingIndex is newIndex for the conn index: when n members need more than initialIndexSlots it starts
// there and reserves the full size for the move.
func newGrowingIndex(tab *Table, n int) index {
	size := indexSize(n)
	if size <= initialIndexSlots {
		return newIndex(tab, n)
	}
	return index{slots: make([]slot, initialIndexSlots), mask: uint32(initialIndexSlots - 1),
		full: hugeSlice[slot](tab, size)}
}

// reserve makes room for n more members: past the load factor of the small slots it starts the move to the
// full ones. Call it before finding insert positions.
func (ix *index) reserve(n int) {
	if ix.full != nil && (ix.count+n)*10 > len(ix.slots)*7 {
		ix.old, ix.oldMask, ix.cursor = ix.slots, ix.mask, 0
		ix.slots, ix.mask, ix.full = ix.full, uint32(len(ix.full)-1), nil
	}
}

// move carries up to budget old slots over to slots. Insert positions found before it are stale.
func (ix *index) move(budget int) {
	if ix.old == nil {
		return
	}
	for ; budget > 0 && int(ix.cursor) < len(ix.old); budget-- {
		if s := ix.old[ix.cursor]; s.val != 0 && s.val != tombstone {
			ix.slots[ix.insertPos(s.hash)] = s
			ix.old[ix.cursor].val = tombstone
		}
		ix.cursor++
	}
	if int(ix.cursor) == len(ix.old) {
		ix.old = nil
	}
}

// put stores a member at pos, an empty slot of its probe run in slots.
func (ix *index) put(pos uint32, s slot) {
	ix.slots[pos] = s
	ix.count++
}

// remove deletes the member val whose key hashed to hash, from slots or (during a move) old.
func (ix *index) remove(hash, val uint32) {
	if pos, ok := ix.find(hash, val); ok {
		ix.deleteAt(pos)
		return
	}
	if ix.old == nil {
		return
	}
	for i := hash & ix.oldMask; ix.old[i].val != 0; i = (i + 1) & ix.oldMask {
		if ix.old[i].val == val {
			ix.old[i].val = tombstone
			return
		}
	}
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
	ix.count--
}

func (ix *index) bytes() int { return (len(ix.slots) + len(ix.full) + len(ix.old)) * 8 }
