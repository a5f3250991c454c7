package conntrack

import (
	"fmt"
	"unsafe"

	"fastlvs/prefetch"
)

// Config sizes a Table. Everything is allocated by New; nothing grows later.
type Config struct {
	// Capacity is the number of connections the table holds; Insert returns ErrFull beyond it.
	Capacity int
	// TemplateCapacity is the number of persistence templates; 0 selects Capacity/16 (at least 64).
	TemplateCapacity int
	// Timeouts per state; zero fields take the IPVS defaults.
	Timeouts Timeouts
	// Pressure sets the defences of a nearly full table; zero fields take DefaultPressure.
	Pressure Pressure
	// Seed keys the table's hashes; 0 (the only value to use outside tests) draws a key from crypto/rand.
	Seed uint64
}

// MaxCapacity bounds Capacity+TemplateCapacity (refs are stored shifted left by one in the index).
const MaxCapacity = 1 << 28

// Stats are the table's counters. Full counts conns refused by Insert because the table was full and no
// embryonic conn was found to evict: conns that completed a handshake or were answered are never evicted.
type Stats struct {
	Conns, Templates  int
	UnderPressure     bool   // the table holds at least Pressure.High of its capacity
	Inserted          uint64 // conns inserted
	Full              uint64 // conns refused with ErrFull
	TemplateFull      uint64 // templates refused with ErrFull
	Expired           uint64 // conns expired
	TemplatesExpired  uint64 // templates expired
	PressureShortened uint64 // timers of embryonic conns armed with the short timeout under pressure
	EvictedEmbryonic  uint64 // embryonic conns evicted from a full table to make room for a new conn
}

// Table is one worker's connection table. It is not safe for concurrent use: the owning worker goroutine calls
// every method, and the control plane only reads through Range/Stats on that goroutine or while it is paused.
//
// Memory (see MemoryBytes): a record is 128 bytes (two cache lines of an aligned pair, both NAT keys in the
// first), plus two index slots of 8 bytes per conn at a load of at most 0.7, rounded up to a power of two
// (16–32 bytes per conn). At 10M conns: 1.28 GB of records + 256 MiB of index ≈ 154 bytes/conn, 1.54 GB in all.
// Records and index of a large table live in mappings of their own backed by transparent huge pages (see hugeSlice).
type Table struct {
	recs []Conn // recs[0] is a zero record so Conn(0) is safe to read

	conns, tmpls     slab
	tmplFirst        uint32 // refs [1, tmplFirst) are conns, [tmplFirst, len(recs)) templates
	tmplExtra        []templateExtra
	index, tmplIndex index
	seed             hashSeed
	rng              uint64
	timeouts         Timeouts
	timeoutNs        [256]int64 // indexed by any State byte: states beyond numStates time out at once
	pressure         Pressure
	pressureMark     int // conns.used at which the table is under pressure
	embryonicNs      int64
	onEvict          func(ref Ref, c *Conn)
	wheel            wheel
	clockBase        int64
	clockSet         bool
	stats            Stats
}

// slab hands out refs in [first, end): recycled ones from a free list threaded through Conn.next, then
// never-used ones in order, so New does not touch the memory it reserves.
type slab struct {
	free, fresh, end uint32
	used             int
}

func (s *slab) alloc(recs []Conn) uint32 {
	if s.free != 0 {
		ref := s.free
		s.free = recs[ref].next
		s.used++
		return ref
	}
	if s.fresh < s.end {
		ref := s.fresh
		s.fresh++
		s.used++
		return ref
	}
	return 0
}

func (s *slab) release(recs []Conn, ref uint32) {
	recs[ref] = Conn{next: s.free}
	s.free = ref
	s.used--
}

// New allocates a table for cfg.Capacity conns and cfg.TemplateCapacity templates.
func New(cfg Config) (*Table, error) {
	if cfg.Capacity <= 0 {
		return nil, fmt.Errorf("new conntrack table: capacity %d must be positive", cfg.Capacity)
	}
	tcap := cfg.TemplateCapacity
	if tcap < 0 {
		return nil, fmt.Errorf("new conntrack table: template capacity %d must not be negative", tcap)
	}
	if tcap == 0 {
		tcap = defaultTemplateCapacity(cfg.Capacity)
	}
	if cfg.Capacity+tcap > MaxCapacity {
		return nil, fmt.Errorf("new conntrack table: capacity %d + %d templates exceeds %d", cfg.Capacity, tcap, MaxCapacity)
	}
	n := uint32(cfg.Capacity)
	t := &Table{
		conns:     slab{fresh: 1, end: 1 + n},
		tmpls:     slab{fresh: 1 + n, end: 1 + n + uint32(tcap)},
		tmplFirst: 1 + n,
		tmplExtra: make([]templateExtra, tcap),
		seed:      newSeed(cfg.Seed),
	}
	t.recs = hugeSlice[Conn](t, 1+cfg.Capacity+tcap)
	t.index = newGrowingIndex(t, 2*cfg.Capacity)
	t.tmplIndex = newIndex(t, tcap)
	t.rng = t.seed[2] ^ t.seed[0]
	t.setTimeouts(cfg.Timeouts.merged(DefaultTimeouts()))
	t.setPressure(cfg.Pressure)
	return t, nil
}

// Lookup finds the conn a packet with tuple key belongs to and the packet's direction; ref is 0 when absent.
func (t *Table) Lookup(key *Tuple) (Ref, Dir) {
	return t.lookupHashed(key, uint32(hashTuple(key, &t.seed)))
}

func (t *Table) lookupHashed(key *Tuple, h uint32) (Ref, Dir) {
	slots, mask := t.index.slots, t.index.mask
	for i := h & mask; ; i = (i + 1) & mask {
		s := slots[i]
		if s.val == 0 {
			break
		}
		if s.hash == h {
			ref, dir := s.val>>1, Dir(s.val&1)
			if t.recs[ref].matches(key, dir) {
				return Ref(ref), dir
			}
		}
	}
	if t.index.old != nil {
		return t.lookupOld(key, h)
	}
	return 0, DirIn
}

// lookupOld is lookupHashed in the slots not moved yet (index.move).
func (t *Table) lookupOld(key *Tuple, h uint32) (Ref, Dir) {
	old, mask := t.index.old, t.index.oldMask
	for i := h & mask; old[i].val != 0; i = (i + 1) & mask {
		if s := old[i]; s.hash == h && s.val != tombstone {
			ref, dir := s.val>>1, Dir(s.val&1)
			if t.recs[ref].matches(key, dir) {
				return Ref(ref), dir
			}
		}
	}
	return 0, DirIn
}

// present reports whether key is indexed, and otherwise where its probe run ends.
func (t *Table) present(key *Tuple, h uint32) (uint32, bool) {
	slots, mask := t.index.slots, t.index.mask
	for i := h & mask; ; i = (i + 1) & mask {
		s := slots[i]
		if s.val == 0 {
			if t.index.old != nil {
				if ref, _ := t.lookupOld(key, h); ref != 0 {
					return i, true
				}
			}
			return i, false
		}
		if s.hash == h && t.recs[s.val>>1].matches(key, Dir(s.val&1)) {
			return i, true
		}
	}
}

// Conn returns the record of ref. The pointer stays valid until the conn is removed or expires.
//
// A Ref is valid from Insert until Remove or until Expire hands it to onExpire. Update, Touch and Conn do not
// check it (they are per packet): calling them with a stale ref corrupts the table, so a worker must not keep
// refs across an Expire call — look the tuple up again instead.
func (t *Table) Conn(ref Ref) *Conn { return &t.recs[ref] }

// Insert stores c with its inbound tuple (as the client's packet arrives) and, when non-nil, the tuple of reply
// packets as they arrive at the director (NAT: src real:port dst client:port; FULLNAT: src real:port dst
// local:lport). DR/TUN pass out == nil (replies never come back).
//
// The conn starts in c.State. For UDP (17) and ICMP (1, 58) conns a StateNone is replaced by StateUDP/StateICMP.
// Any other starting state is taken as learned from a synced peer (see Conn.Replied).
// A TCP conn is normally inserted in StateNone and the caller then runs Update for its first packet, as IPVS does
// (or sets c.State = NextState(StateNone, DirIn, flags, inputOnly) first). The timer is armed with the timeout of
// the starting state. When c.Template is set, the template's count of controlled conns grows by one.
//
// When every record is in use and an evict hook is set, an embryonic conn is evicted to make room (see Pressure).
//
// Errors (pre-built, no allocation): ErrFull when every record is in use and none could be evicted (counted in
// Stats.Full), ErrExists when a tuple is already present, ErrTupleMismatch, ErrNoTemplate.
func (t *Table) Insert(c *Conn, in, out *Tuple, now int64) (Ref, error) {
	var meta uint8 = metaUsed
	if *in != inTupleOf(c) {
		return 0, ErrTupleMismatch
	}
	if out != nil {
		if out.Src != c.Real || out.SrcPort != c.RealPort || out.Proto != c.Proto {
			return 0, ErrTupleMismatch
		}
		switch {
		case out.Dst == c.Client && out.DstPort == c.ClientPort:
			meta |= metaHasOut
		case out.Dst == c.Local && out.DstPort == c.LocalPort:
			meta |= metaHasOut | metaOutLocal
		default:
			return 0, ErrTupleMismatch
		}
	}
	if c.Template != 0 && !t.liveTemplate(uint32(c.Template)) {
		return 0, ErrNoTemplate
	}
	if out != nil {
		t.index.reserve(2)
	} else {
		t.index.reserve(1)
	}
	t.index.move(moveOnInsert)
	hIn := uint32(hashTuple(in, &t.seed))
	var hOut, posOut uint32
	if out != nil {
		hOut = uint32(hashTuple(out, &t.seed))
		prefetch.Line(unsafe.Pointer(&t.index.slots[hOut&t.index.mask])) // overlaps with the in probe's miss
	}
	posIn, dup := t.present(in, hIn)
	if dup {
		return 0, ErrExists
	}
	if out != nil {
		if posOut, dup = t.present(out, hOut); dup {
			return 0, ErrExists
		}
	}
	ref := t.conns.alloc(t.recs)
	if ref == 0 && t.evictEmbryonic() {
		// The removal shifted index slots back: find the ends of both probe runs again.
		posIn, _ = t.present(in, hIn)
		if out != nil {
			posOut, _ = t.present(out, hOut)
		}
		ref = t.conns.alloc(t.recs)
	}
	if ref == 0 {
		t.stats.Full++
		return 0, ErrFull
	}
	r := &t.recs[ref]
	*r = *c
	r.meta = meta
	r.expires, r.armed, r.next, r.prev = 0, 0, 0, 0
	r.born = t.clock(now)
	learnedState(r, r.State)
	if r.State == StateNone {
		switch r.Proto {
		case 17:
			r.State = StateUDP
		case 1, 58:
			r.State = StateICMP
		}
	}
	t.index.put(posIn, slot{hash: hIn, val: ref << 1})
	if out != nil {
		if posOut == posIn {
			posOut = t.index.insertPos(posIn) // the in slot took it; the run continues past it
		}
		t.index.put(posOut, slot{hash: hOut, val: ref<<1 | uint32(DirOut)})
	}
	if r.Template != 0 {
		t.tmplExtra[uint32(r.Template)-t.tmplFirst].controlled++
	}
	t.arm(ref, now, t.connTimeout(r, r.State))
	t.stats.Inserted++
	return Ref(ref), nil
}

// Update runs the IPVS TCP state machine (see NextState) for one packet of the conn and re-arms its timer with the
// new state's timeout. It returns the states before and after so the caller can adjust active/inactive counts.
// For UDP/ICMP conns the state stays; the packet's direction records whether the conn was answered (Replied),
// which decides how the conn fares under table pressure.
func (t *Table) Update(ref Ref, dir Dir, tcpFlags uint8, inputOnly bool, now int64) (old, new State) {
	r := &t.recs[ref]
	old = r.State
	new = NextState(old, dir, tcpFlags, inputOnly)
	r.State = new
	t.noteDirection(r, dir, now)
	t.arm(uint32(ref), now, t.connTimeout(r, new))
	return old, new
}

// Touch re-arms the conn's timer with its current state's timeout (a TCP packet that should not move the state
// machine). It does not record a reply: for UDP and ICMP packets call Update.
func (t *Table) Touch(ref Ref, now int64) {
	r := &t.recs[ref]
	t.arm(uint32(ref), now, t.connTimeout(r, r.State))
}

// SetState puts the conn in state s and re-arms its timer with that state's
// timeout: a state learned from elsewhere (a synced peer) rather than from a
// packet, so a state past the handshake counts as answered (Conn.Replied).
// It returns the state before.
func (t *Table) SetState(ref Ref, s State, now int64) (old State) {
	r := &t.recs[ref]
	old, r.State = r.State, s
	learnedState(r, s)
	t.arm(uint32(ref), now, t.connTimeout(r, s))
	return old
}

// Remove deletes a conn (or a template, as RemoveTemplate) at once. Removing a free ref does nothing.
func (t *Table) Remove(ref Ref) {
	if ref == 0 || int(ref) >= len(t.recs) || t.recs[ref].meta&metaUsed == 0 {
		return
	}
	if t.recs[ref].meta&metaTemplate != 0 {
		t.RemoveTemplate(ref)
		return
	}
	t.removeConn(uint32(ref))
}

func (t *Table) removeConn(ref uint32) {
	r := &t.recs[ref]
	in := inTupleOf(r)
	hIn := uint32(hashTuple(&in, &t.seed))
	if r.meta&metaHasOut != 0 {
		out := outTupleOf(r)
		hOut := uint32(hashTuple(&out, &t.seed))
		prefetch.Line(unsafe.Pointer(&t.index.slots[hOut&t.index.mask])) // overlaps with the in slot's miss
		t.index.remove(hIn, ref<<1)
		t.index.remove(hOut, ref<<1|uint32(DirOut))
	} else {
		t.index.remove(hIn, ref<<1)
	}
	t.unlink(ref)
	if tmpl := uint32(r.Template); tmpl != 0 {
		t.releaseControl(tmpl)
	}
	t.conns.release(t.recs, ref)
}

// ExpiresAt returns the monotonic nanosecond time at or after which the record expires (rounded up to a tick).
func (t *Table) ExpiresAt(ref Ref) int64 {
	return t.clockBase + int64(t.recs[ref].expires)<<tickShift
}

// Len returns the number of conns in the table (templates not included).
func (t *Table) Len() int { return t.conns.used }

// Capacity returns the number of conns the table can hold.
func (t *Table) Capacity() int { return int(t.tmplFirst - 1) }

// TemplateLen returns the number of templates in the table.
func (t *Table) TemplateLen() int { return t.tmpls.used }

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Conns, s.Templates = t.conns.used, t.tmpls.used
	s.UnderPressure = t.conns.used >= t.pressureMark
	return s
}

// SetTimeouts changes the per-state timeouts; zero fields keep their current value (as ipvsadm --set 0 does).
// Timers already armed keep their deadline; the new values apply when a timer is re-armed.
func (t *Table) SetTimeouts(to Timeouts) { t.setTimeouts(to.merged(t.timeouts)) }

// Timeouts returns the per-state timeouts in force.
func (t *Table) Timeouts() Timeouts { return t.timeouts }

func (t *Table) setTimeouts(to Timeouts) {
	t.timeouts = to
	for s, d := range to.byState() {
		t.timeoutNs[s] = int64(d)
	}
}

// Range calls fn for every conn and template (c.IsTemplate tells them apart), in ref order, until fn returns false.
// It is for the control plane (ipvsadm -lc): it must run on the owning worker goroutine or while that worker is
// paused, and fn must not change the table. It visits every record slot, so it costs O(capacity).
func (t *Table) Range(fn func(ref Ref, c *Conn, expiresAt int64) bool) {
	t.RangeFrom(1, len(t.recs), fn)
}

// RangeFrom is Range over at most slots record slots from ref from on, so a listing can pause the worker for a
// bounded time per call. It returns the ref to continue from, or 0 once the table is done (or fn returned false).
func (t *Table) RangeFrom(from Ref, slots int, fn func(ref Ref, c *Conn, expiresAt int64) bool) Ref {
	end := min(len(t.recs), int(max(from, 1))+slots)
	for ref := int(max(from, 1)); ref < end; ref++ {
		c := &t.recs[ref]
		if c.meta&metaUsed == 0 {
			continue
		}
		if !fn(Ref(ref), c, t.ExpiresAt(Ref(ref))) {
			return 0
		}
	}
	if end == len(t.recs) {
		return 0
	}
	return Ref(end)
}

// MemoryBytes returns the bytes the table reserved: records, template side table, both indexes and the wheel.
func (t *Table) MemoryBytes() int {
	return len(t.recs)*int(unsafe.Sizeof(Conn{})) + len(t.tmplExtra)*int(unsafe.Sizeof(templateExtra{})) +
		t.index.bytes() + t.tmplIndex.bytes() + int(unsafe.Sizeof(t.wheel))
}

// MemoryFor returns what New(cfg) would reserve, in bytes, without allocating it (for configuration checks).
func MemoryFor(cfg Config) int {
	tcap := cfg.TemplateCapacity
	if tcap == 0 {
		tcap = defaultTemplateCapacity(cfg.Capacity)
	}
	connIndex := indexSize(2 * cfg.Capacity)
	if connIndex > initialIndexSlots {
		connIndex += initialIndexSlots // where it starts (newGrowingIndex)
	}
	return (1+cfg.Capacity+tcap)*int(unsafe.Sizeof(Conn{})) + tcap*int(unsafe.Sizeof(templateExtra{})) +
		8*connIndex + 8*indexSize(tcap) + int(unsafe.Sizeof(wheel{}))
}

func defaultTemplateCapacity(capacity int) int { return max(capacity/16, 64) }
