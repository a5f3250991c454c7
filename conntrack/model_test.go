package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"
)

// modelConn is the reference model's view of one conn.
type modelConn struct {
	ref     Ref
	in, out Tuple
	hasOut  bool
	state   State
	expires int64 // exact deadline in ns
}

// TestModelAgainstMap drives the table and a plain map with the same random operations (insert, lookup, update,
// touch, remove, expire) on a small key space so that collisions, re-inserts and backward shifts are frequent.
func TestModelAgainstMap(t *testing.T) {
	for seed := range uint64(4) {
		runModel(t, seed)
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	const capacity = 300
	tab := newTable(t, capacity)
	tab.SetTimeouts(Timeouts{UDP: 20 * time.Second, None: 3 * time.Second})
	timeouts := tab.Timeouts()
	timeout := timeouts.byState()
	byIn := map[Tuple]*modelConn{}
	byOut := map[Tuple]*modelConn{}
	byRef := map[Ref]*modelConn{}
	now := int64(0)

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
			ref, err := tab.Insert(&c, &in, o, now)
			_, exists := byIn[in]
			switch {
			case exists:
				if err != ErrExists {
					t.Fatalf("seed %d step %d: insert of present tuple: %v", seed, step, err)
				}
			case len(byRef) == capacity:
				if err != ErrFull {
					t.Fatalf("seed %d step %d: insert into full table: %v", seed, step, err)
				}
			case err != nil:
				t.Fatalf("seed %d step %d: insert: %v", seed, step, err)
			default:
				if byRef[ref] != nil {
					t.Fatalf("seed %d step %d: ref %d handed out twice", seed, step, ref)
				}
				st := tab.Conn(ref).State
				m := &modelConn{ref: ref, in: in, out: out, hasOut: withOut, state: st, expires: now + int64(timeout[st])}
				byIn[in], byRef[ref] = m, m
				if withOut {
					byOut[out] = m
				}
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
			m.expires = now + int64(timeout[next])
		case op < 7:
			if m := byIn[in]; m != nil {
				tab.Touch(m.ref, now)
				m.expires = now + int64(timeout[m.state])
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
