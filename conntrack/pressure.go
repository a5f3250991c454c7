package conntrack

import (
	"time"
	"unsafe"

	"fastlvs/prefetch"
)

// Table pressure, as IPVS's drop_entry and secure_tcp defend against SYN and UDP floods, without ever touching
// a conn that proved it has two live ends:
//
//   - Embryonic conns are TCP conns that never completed a handshake (State.Embryonic), or whose real server never
//     answered although its replies pass the director (NAT, FULLNAT: a spoofed SYN then ACK reaches ESTABLISHED
//     in IPVS's state table without the server), and UDP/ICMP conns whose client never spoke again after an
//     answer (Conn.Replied): a service answers a spoofed datagram as readily as a real one, but only a real
//     client hears the answer. A spoofed-source flood makes nothing else.
//   - While the table holds at least Pressure.High × Capacity conns, an embryonic conn's timer is armed with
//     Pressure.EmbryonicTimeout instead of its state's timeout (counted in Stats.PressureShortened), so the wheel
//     reclaims the flood within seconds instead of a minute.
//   - When the table is full, Insert samples evictSamples random conns and evicts the oldest embryonic one among
//     them to make room (Stats.EvictedEmbryonic); with none in the sample it refuses (Stats.Full). Conns that
//     completed a handshake or were answered are never evicted. Eviction needs an evict hook (SetEvictHook) so
//     the owner can release what the conn held, as Expire's callback does.

// Pressure sets the table-pressure defences. Zero fields take the defaults.
type Pressure struct {
	// High is the fill, as a fraction of Capacity in (0, 1], from which embryonic conns get EmbryonicTimeout.
	High float64
	// EmbryonicTimeout replaces the timeout of an embryonic conn's state under pressure (when shorter).
	EmbryonicTimeout time.Duration
}

// DefaultPressure returns the defaults: short timeouts from three quarters full, embryonic conns live 3 s.
func DefaultPressure() Pressure { return Pressure{High: 0.75, EmbryonicTimeout: 3 * time.Second} }

// evictSamples is how many random conns a full-table Insert examines for an embryonic victim. In a table that
// is half embryonic, 8 samples miss one with probability 1/256; each sample is one cache miss, prefetched together.
const evictSamples = 8

// Replied reports whether the conn proved it has two live ends: for TCP, a packet came from the real server
// (NAT, FULLNAT); for UDP/ICMP, the client sent again after the real server answered (NAT, FULLNAT), or, when
// replies bypass the director (DR, TUN: no reply tuple), at least repliedAfterTicks after the conn was made — a
// spoofed source never sends twice. Update records it; a conn inserted or set (SetState) in a state learned
// elsewhere, a synced peer's, counts as replied unless the state is an embryonic TCP one.
func (c *Conn) Replied() bool { return c.meta&metaReplied != 0 }

// repliedAfterTicks (~270 ms) keeps a burst of packets of one spoofed tuple from passing as a live DR/TUN flow.
const repliedAfterTicks = 2

func (c *Conn) embryonic() bool {
	if c.Proto == protoTCP {
		return c.State.Embryonic() || c.meta&(metaHasOut|metaReplied) == metaHasOut
	}
	return c.meta&metaReplied == 0
}

const protoTCP = 6

// noteDirection records that a conn was answered (see Replied).
func (t *Table) noteDirection(r *Conn, dir Dir, now int64) {
	if r.meta&metaReplied != 0 {
		return
	}
	switch {
	case r.Proto == protoTCP:
		if dir == DirOut {
			r.meta |= metaReplied
		}
	case r.meta&metaHasOut != 0:
		if dir == DirOut {
			r.meta |= metaAnswered
		} else if r.meta&metaAnswered != 0 {
			r.meta |= metaReplied
		}
	case int32(t.clock(now)-r.born) >= repliedAfterTicks:
		r.meta |= metaReplied
	}
}

// learnedState is noteDirection for a state learned elsewhere (a synced peer): see Replied.
func learnedState(r *Conn, s State) {
	if s != StateNone && !(r.Proto == protoTCP && s.Embryonic()) {
		r.meta |= metaReplied
	}
}

// connTimeout is the timeout of r's state s, shortened to the embryonic timeout while the table is under pressure.
func (t *Table) connTimeout(r *Conn, s State) int64 {
	timeout := t.timeoutNs[s]
	if t.conns.used < t.pressureMark || timeout <= t.embryonicNs || !r.embryonic() {
		return timeout
	}
	t.stats.PressureShortened++
	return t.embryonicNs
}

func (t *Table) setPressure(p Pressure) {
	def := DefaultPressure()
	if p.High <= 0 || p.High > 1 {
		p.High = def.High
	}
	if p.EmbryonicTimeout <= 0 {
		p.EmbryonicTimeout = def.EmbryonicTimeout
	}
	t.pressure = p
	t.pressureMark = max(1, int(p.High*float64(t.Capacity())))
	t.embryonicNs = int64(p.EmbryonicTimeout)
}

// SetPressure changes the pressure defences; zero fields take the defaults. Armed timers keep their deadline.
func (t *Table) SetPressure(p Pressure) { t.setPressure(p) }

// Pressure returns the pressure defences in force.
func (t *Table) Pressure() Pressure { return t.pressure }

// SetEvictHook enables eviction of embryonic conns from a full table (see Pressure) and sets the function Insert
// calls with each victim before freeing it; like Expire's onExpire it must not call back into the table. The
// victim's ref is reused at once, so refs the caller holds from earlier lookups are stale after an Insert that
// evicted (the hook is the place to note that). nil disables eviction: a full table refuses, as before.
func (t *Table) SetEvictHook(fn func(ref Ref, c *Conn)) { t.onEvict = fn }

// evictEmbryonic frees the oldest embryonic conn among evictSamples random ones of a full table, reporting
// whether it found one. O(evictSamples) whatever the table size.
func (t *Table) evictEmbryonic() bool {
	if t.onEvict == nil {
		return false
	}
	var refs [evictSamples]uint32
	n := uint64(t.Capacity())
	for i := range refs {
		refs[i] = 1 + uint32(uint64(uint32(t.random()))*n>>32)
		prefetch.Line(unsafe.Pointer(&t.recs[refs[i]]))
	}
	var victim uint32
	for _, ref := range refs {
		r := &t.recs[ref]
		if r.meta&metaUsed == 0 || !r.embryonic() {
			continue
		}
		if victim == 0 || int32(r.born-t.recs[victim].born) < 0 {
			victim = ref
		}
	}
	if victim == 0 {
		return false
	}
	t.onEvict(Ref(victim), &t.recs[victim])
	t.removeConn(victim)
	t.stats.EvictedEmbryonic++
	return true
}

// random is a wyrand step: fast, and unpredictable to a remote client because its state starts from the seed.
func (t *Table) random() uint64 {
	t.rng += 0xa0761d6478bd642f
	return mix(t.rng, t.rng^0xe7037ed1a0b428db)
}
