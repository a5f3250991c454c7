package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"
)

// modelConn is the reference model's view of one conn.
type modelConn struct {
	ref      Ref
	in, out  Tuple
	hasOut   bool
	state    State
	expires  int64 // exact deadline in ns
	born     uint32
	replied  bool
	answered bool // non-TCP with a reply tuple: answered since the client last spoke
}

// embryonic is the model of Conn.embryonic.
func (m *modelConn) embryonic() bool {
	if m.in.Proto == protoTCP {
		return m.state.Embryonic() || (m.hasOut && !m.replied)
	}
	return !m.replied
}

// TestModelAgainstMap drives the table and a plain map with the same random operations (insert, lookup, update,
// touch, remove, expire) on a small key space so that collisions, re-inserts and backward shifts are frequent.
// The random load fills about 50 conns: a table of 300 is probed sparse, one of 40 full and under pressure (short
// timeouts for embryonic conns), with or without eviction.
func TestModelAgainstMap(t *testing.T) {
	for _, run := range []struct {
		seed     uint64
		capacity int
		evict    bool
	}{{0, 300, false}, {1, 300, false}, {2, 40, false}, {3, 40, true}, {4, 40, true}} {
		runModel(t, run.seed, run.capacity, run.evict)
	}
}

func runModel(t *testing.T, seed uint64, capacity int, evict bool) {
	rng := rand.New(rand.NewPCG(seed, 99))
	tab := newTable(t, capacity)
	tab.SetTimeouts(Timeouts{UDP: 20 * time.Second, None: 3 * time.Second})
	tab.SetPressure(Pressure{High: 0.5, EmbryonicTimeout: 2 * time.Second})
	timeouts := tab.Timeouts()
	timeout := timeouts.byState()
	byIn := map[Tuple]*modelConn{}
	byOut := map[Tuple]*modelConn{}
	byRef := map[Ref]*modelConn{}
	now := int64(0)
	// armedFor is the timeout the table must arm m with: its state's, or the embryonic one under pressure.
	armedFor := func(m *modelConn) int64 {
		d := int64(timeout[m.state])
		if len(byRef) >= capacity/2 && m.embryonic() && d > int64(2*time.Second) {
			return int64(2 * time.Second)
		}
		return d
	}
	evicted, maxLen := 0, 0
	if evict {
		tab.SetEvictHook(func(ref Ref, c *Conn) {
			m := byRef[ref]
			if m == nil || !m.embryonic() || inTupleOf(c) != m.in {
				t.Fatalf("seed %d: evicted ref %d is not an embryonic conn of the model", seed, ref)
			}
			delete(byIn, m.in)
			if m.hasOut {
				delete(byOut, m.out)
			}
			delete(byRef, m.ref)
			evicted++
		})
	}

	drop := func(m *modelConn) {
		delete(byIn, m.in)
		if m.hasOut {
			delete(byOut, m.out)
		}
		delete(byRef, m.ref)
	}
	for step := range 40000 {
		now += int64(rng.IntN(int(sec / 4)))
		i := uint32(rng.IntN(600))
		proto := uint8(6)
		if i%3 == 0 {
			proto = 17
		}
		c, in, out := natConn(i, proto)
		withOut := i%2 == 0
		if i%4 == 2 { // FULLNAT: replies come back to a local address and port
			c.Local, c.LocalPort = addr4(198, 18<<16|3<<8|1), uint16(40000+i)
			out.Dst, out.DstPort = c.Local, c.LocalPort
		}
		switch op := rng.IntN(10); {
		case op < 4:
			var o *Tuple
			if withOut {
				o = &out
			}
			wasFull, evictedBefore := len(byRef) == capacity, evicted
			ref, err := tab.Insert(&c, &in, o, now)
			_, exists := byIn[in]
			switch {
			case exists:
				if err != ErrExists {
					t.Fatalf("seed %d step %d: insert of present tuple: %v", seed, step, err)
				}
			case wasFull && err == nil && evicted != evictedBefore+1:
				t.Fatalf("seed %d step %d: insert into full table succeeded with %d evictions", seed, step, evicted-evictedBefore)
			case wasFull && err != nil:
				if err != ErrFull || evicted != evictedBefore {
					t.Fatalf("seed %d step %d: insert into full table: %v", seed, step, err)
				}
			case err != nil:
				t.Fatalf("seed %d step %d: insert: %v", seed, step, err)
			default:
				if byRef[ref] != nil {
					t.Fatalf("seed %d step %d: ref %d handed out twice", seed, step, ref)
				}
				st := tab.Conn(ref).State
				m := &modelConn{ref: ref, in: in, out: out, hasOut: withOut, state: st,
					born: uint32((now - tab.clockBase) >> tickShift)}
				byIn[in], byRef[ref] = m, m
				if withOut {
					byOut[out] = m
				}
				m.expires = now + armedFor(m)
			}
		case op < 6:
			m := byIn[in]
			if m == nil {
				break
			}
			dir, flags := DirIn, []uint8{syn, ack, fin, rst, synAck, 0}[rng.IntN(6)]
			if m.hasOut && rng.IntN(2) == 0 {
				dir = DirOut
			}
			old, next := tab.Update(m.ref, dir, flags, !m.hasOut, now)
			want := NextState(m.state, dir, flags, !m.hasOut)
			if old != m.state || next != want {
				t.Fatalf("seed %d step %d: update %v→%v, model %v→%v", seed, step, old, next, m.state, want)
			}
			m.state = next
			switch {
			case proto == protoTCP:
				m.replied = m.replied || dir == DirOut
			case m.hasOut && dir == DirOut:
				m.answered = true
			case m.hasOut:
				m.replied = m.replied || m.answered
			default:
				m.replied = m.replied || uint32((now-tab.clockBase)>>tickShift)-m.born >= repliedAfterTicks
			}
			if tab.Conn(m.ref).Replied() != m.replied {
				t.Fatalf("seed %d step %d: replied = %v, model %v", seed, step, !m.replied, m.replied)
			}
			m.expires = now + armedFor(m)
		case op < 7:
			if m := byIn[in]; m != nil {
				tab.Touch(m.ref, now)
				m.expires = now + armedFor(m)
			}
		case op < 8:
			if m := byIn[in]; m != nil {
				tab.Remove(m.ref)
				drop(m)
			}
		default:
			tab.Expire(now, 1+rng.IntN(50), func(ref Ref, c *Conn) {
				m := byRef[ref]
				if m == nil {
					t.Fatalf("seed %d step %d: expired unknown ref %d", seed, step, ref)
				}
				if m.expires > now {
					t.Fatalf("seed %d step %d: ref %d expired %v early", seed, step, ref, time.Duration(m.expires-now))
				}
				if c.State != m.state || inTupleOf(c) != m.in {
					t.Fatalf("seed %d step %d: expired record differs from model", seed, step)
				}
				drop(m)
			})
		}
		// Every model entry must be found in both directions, and a random absent probe must miss.
		if m := byIn[in]; m != nil {
			if r, d := tab.Lookup(&in); r != m.ref || d != DirIn {
				t.Fatalf("seed %d step %d: lookup in = %d,%d want %d", seed, step, r, d, m.ref)
			}
		} else if r, _ := tab.Lookup(&in); r != 0 {
			t.Fatalf("seed %d step %d: absent in tuple found as %d", seed, step, r)
		}
		if m := byOut[out]; m != nil {
			if r, d := tab.Lookup(&out); r != m.ref || d != DirOut {
				t.Fatalf("seed %d step %d: lookup out = %d,%d want %d", seed, step, r, d, m.ref)
			}
		} else if r, _ := tab.Lookup(&out); r != 0 {
			t.Fatalf("seed %d step %d: absent out tuple found as %d", seed, step, r)
		}
		// LookupBatch answers exactly as Lookup does, for present and absent keys in both directions.
		batch := []Tuple{in, out, in, out}
		batch[2].SrcPort ^= 1
		var refs [4]Ref
		var dirs [4]Dir
		tab.LookupBatch(batch, refs[:], dirs[:])
		for j := range batch {
			if r, d := tab.Lookup(&batch[j]); r != refs[j] || (r != 0 && d != dirs[j]) {
				t.Fatalf("seed %d step %d: LookupBatch[%d] = %d,%d, Lookup = %d,%d", seed, step, j, refs[j], dirs[j], r, d)
			}
		}
		if step%500 == 499 {
			// A full expiry leaves nothing more than a tick past its model deadline (shortened ones included).
			tab.Expire(now, 1<<30, func(ref Ref, c *Conn) { drop(byRef[ref]) })
			for _, m := range byRef {
				if now-m.expires >= tickNanos {
					t.Fatalf("seed %d step %d: ref %d outlived its deadline by %v", seed, step, m.ref, time.Duration(now-m.expires))
				}
			}
		}
		maxLen = max(maxLen, tab.Len())
		if tab.Len() != len(byRef) {
			t.Fatalf("seed %d step %d: len %d, model %d", seed, step, tab.Len(), len(byRef))
		}
	}
	// Full sweep: everything in the model is found; then everything expires, none late by more than a tick.
	for in, m := range byIn {
		if r, _ := tab.Lookup(&in); r != m.ref {
			t.Fatalf("seed %d: final lookup of %d = %d", seed, m.ref, r)
		}
	}
	if s := tab.Stats(); capacity < 50 && (s.PressureShortened == 0 || maxLen != capacity || (evict && evicted == 0)) {
		t.Fatalf("seed %d: the run never put the table under pressure (max len %d, shortened %d, evicted %d)", seed, maxLen, s.PressureShortened, evicted)
	}
	end := now + int64(timeout[StateEstablished]) + 2*tickNanos
	tab.Expire(end, 1<<30, func(ref Ref, c *Conn) { drop(byRef[ref]) })
	if tab.Len() != 0 || len(byRef) != 0 {
		t.Fatalf("seed %d: %d conns left after final expiry (model %d)", seed, tab.Len(), len(byRef))
	}
}

// The wheel never keeps a conn much longer than its timeout: every conn has expired one tick after its deadline.
func TestExpiryIsNeverLateByMoreThanATick(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newTable(t, 2000)
	tab.SetTimeouts(Timeouts{UDP: 5 * time.Second})
	deadline := map[Ref]int64{}
	now := int64(0)
	for step := range 20000 {
		now += int64(rng.IntN(int(sec / 50)))
		i := uint32(rng.IntN(1500))
		c, in, _ := natConn(i, 17)
		if ref, _ := tab.Lookup(&in); ref != 0 {
			tab.Touch(ref, now)
			deadline[ref] = now + 5*sec
		} else if ref, err := tab.Insert(&c, &in, nil, now); err == nil {
			deadline[ref] = now + 5*sec
		}
		tab.Expire(now, 64, func(ref Ref, _ *Conn) {
			if deadline[ref] > now {
				t.Fatalf("step %d: early expiry", step)
			}
			delete(deadline, ref)
		})
		for ref, d := range deadline {
			if now > d+tickNanos+sec/50 && step%100 == 0 {
				t.Fatalf("step %d: ref %d late by %v", step, ref, time.Duration(now-d))
			}
		}
	}
}
