package conntrack

// The timer wheel: wheelSize slots of 2^tickShift ns (~134 ms), one revolution ~1100 s, so the IPVS default
// timeouts (at most 900 s) land in the right slot on the first visit. Longer timeouts stay in their slot and are
// skipped (one unit of work) once per revolution until due.
//
// Re-arming to a later deadline, the common case of every packet of a live conn, only stores the new deadline in
// the record: no list surgery, no neighbour cache misses. When the slot the record sits in comes due the record is
// moved to the slot of its real deadline. Re-arming to an earlier deadline (ESTABLISHED→CLOSE) moves it at once.
const (
	tickShift = 27
	tickNanos = int64(1) << tickShift
	wheelBits = 13
	wheelSize = 1 << wheelBits
	wheelMask = wheelSize - 1
)

type wheel struct {
	heads [wheelSize]uint32
	// cursor is the next tick to visit; ticks below it have been visited.
	cursor uint32
	// pending is the detached list of the slot being visited (tick pendingTick), kept across Expire calls when the
	// budget runs out mid-slot.
	pending     uint32
	pendingTick uint32
}

// clock converts a monotonic nanosecond reading to wheel ticks since the first reading the table saw.
func (t *Table) clock(now int64) uint32 {
	if !t.clockSet {
		t.clockBase = now
		t.clockSet = true
	}
	d := now - t.clockBase
	if d < 0 {
		return 0
	}
	return uint32(d >> tickShift)
}

// deadline is the first tick at whose start timeout has passed since now (rounded up: never early, late by less
// than one tick plus the caller's batch interval).
func (t *Table) deadline(now int64, timeout int64) uint32 {
	t.clock(now)
	d := now - t.clockBase
	if d < 0 {
		d = 0
	}
	timeout = min(max(timeout, 0), maxTimeout)
	return uint32((d + timeout + tickNanos - 1) >> tickShift)
}

// maxTimeout keeps every deadline within 2^30 ticks (~4.5 years) of now, so the wrap-around comparisons of
// uint32 ticks (int32 differences) stay correct.
const maxTimeout = int64(1<<30) * tickNanos

// arm sets ref's deadline and links it where the wheel will find it in time.
func (t *Table) arm(ref uint32, now int64, timeout int64) {
	r := &t.recs[ref]
	exp := t.deadline(now, timeout)
	old := r.expires
	r.expires = exp
	if r.meta&metaArmed != 0 {
		// Lazy: the wheel moves the record when its current slot comes due. Checking the old deadline first
		// (armed <= old deadline) keeps the common case, a later deadline, in the record's first cache line.
		if int32(exp-old) >= 0 || int32(exp-r.armed) >= 0 {
			return
		}
		t.unlink(ref)
	}
	t.link(ref, exp)
}

// link pushes ref onto the list of the slot for tick at (never a tick already visited).
func (t *Table) link(ref uint32, at uint32) {
	if int32(at-t.wheel.cursor) < 0 {
		at = t.wheel.cursor
	}
	r := &t.recs[ref]
	r.armed = at
	head := &t.wheel.heads[at&wheelMask]
	r.prev = 0
	r.next = *head
	if *head != 0 {
		t.recs[*head].prev = ref
	}
	*head = ref
	r.meta |= metaArmed
}

// unlink removes ref from whichever wheel list holds it: its slot's or the pending one.
func (t *Table) unlink(ref uint32) {
	r := &t.recs[ref]
	if r.meta&metaArmed == 0 {
		return
	}
	if r.prev != 0 {
		t.recs[r.prev].next = r.next
	} else if head := &t.wheel.heads[r.armed&wheelMask]; *head == ref {
		*head = r.next
	} else {
		t.wheel.pending = r.next
	}
	if r.next != 0 {
		t.recs[r.next].prev = r.prev
	}
	r.next, r.prev = 0, 0
	r.meta &^= metaArmed
}

// Expire removes the conns and templates whose deadline has passed, calling onExpire (which may be nil) for each
// conn, before it is freed; templates are freed silently. It does at most budget units of work — one per record
// examined and one per wheel slot visited — so a worker can call it once per batch; what is left is picked up by
// the next call. Records go in deadline order at tick granularity (~134 ms; within one tick the order is
// unspecified), never before their deadline. It returns the number of conns expired. now is monotonic
// nanoseconds read once per batch.
// onExpire must not call back into the table.
func (t *Table) Expire(now int64, budget int, onExpire func(ref Ref, c *Conn)) int {
	t.index.move(moveOnExpire)
	nowTick := t.clock(now)
	w := &t.wheel
	expired := 0
	for work := 0; work < budget; work++ {
		if w.pending != 0 {
			ref := w.pending
			t.unlink(ref)
			if t.visit(ref, now, nowTick, onExpire) {
				expired++
			}
			continue
		}
		if int32(nowTick-w.cursor) < 0 {
			break
		}
		if nowTick-w.cursor >= wheelSize {
			// The worker slept for more than a revolution: one pass over all slots, checking deadlines against
			// nowTick, sees every record.
			w.cursor = nowTick - wheelSize + 1
		}
		slotHead := &w.heads[w.cursor&wheelMask]
		w.pending, *slotHead = *slotHead, 0
		w.pendingTick = w.cursor
		w.cursor++
	}
	return expired
}

// visit handles one record taken off the slot for tick pendingTick; it reports whether a conn expired.
func (t *Table) visit(ref uint32, now int64, nowTick uint32, onExpire func(ref Ref, c *Conn)) bool {
	r := &t.recs[ref]
	if int32(r.armed-t.wheel.pendingTick) > 0 {
		t.link(ref, r.armed) // a later revolution
		return false
	}
	if int32(r.expires-nowTick) > 0 {
		t.link(ref, r.expires) // re-armed lazily since it was linked
		return false
	}
	if r.meta&metaTemplate != 0 {
		x := &t.tmplExtra[ref-t.tmplFirst]
		if x.controlled > 0 {
			// IPVS keeps a template while it controls conns, re-armed for its full timeout.
			r.expires = t.deadline(now, x.timeout)
			t.link(ref, r.expires)
			return false
		}
		t.freeTemplate(ref)
		t.stats.TemplatesExpired++
		return false
	}
	if onExpire != nil {
		onExpire(Ref(ref), r)
	}
	t.removeConn(ref)
	t.stats.Expired++
	return true
}
