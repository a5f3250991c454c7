package sched

import "math/bits"

// twosPlan is the cumulative weight line twos samples from.
type twosPlan struct {
	cumulative []int64 // cumulative[k] = sum of weights of servers[0..k] (weighted servers only)
	servers    []int32 // the server index behind each cumulative entry
	total      int64
}

func buildTwoChoices(p *Plan, _ *Config) error {
	for i, s := range p.servers {
		if s.weight > 0 {
			p.twos.total += s.weight
			p.twos.cumulative = append(p.twos.cumulative, p.twos.total)
			p.twos.servers = append(p.twos.servers, int32(i))
		}
	}
	return nil
}

// twoChoices is "power of two choices": two servers drawn at random with probability proportional to weight, and
// the one with the smaller wlc cost (overhead/weight) wins. It balances nearly as well as wlc with two counter reads
// instead of N. Overloaded draws are discarded; if both are, it falls back to a full wlc scan.
type twoChoices struct {
	plan  *Plan
	state uint64 // xorshift64* state, per instance so workers never contend on a generator
}

func newTwoChoices(p *Plan) Scheduler {
	// Seeds come from a per-plan counter through splitmix: distinct per worker, reproducible per run.
	return &twoChoices{plan: p, state: mix64(p.instances.Add(1)) | 1}
}

func (t *twoChoices) random() uint64 {
	t.state ^= t.state >> 12
	t.state ^= t.state << 25
	t.state ^= t.state >> 27
	return t.state * 0x2545f4914f6cdd1d
}

// draw picks a weighted server: a uniform point on [0, total) located by binary search.
func (t *twoChoices) draw() int {
	line := &t.plan.twos
	point, _ := bits.Mul64(t.random(), uint64(line.total)) // uniform in [0, total) without a division
	lo, hi := 0, len(line.cumulative)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if line.cumulative[mid] > int64(point) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return int(line.servers[lo])
}

func (t *twoChoices) Schedule(_ *Flow, _ int64) int {
	if t.plan.twos.total == 0 {
		return -1
	}
	servers := t.plan.servers
	first, second := t.draw(), t.draw()
	firstOK, secondOK := !servers[first].load.Overloaded(), !servers[second].load.Overloaded()
	switch {
	case firstOK && secondOK:
		a, b := &servers[first], &servers[second]
		if a.overhead()*b.weight > b.overhead()*a.weight {
			return second
		}
		return first
	case firstOK:
		return first
	case secondOK:
		return second
	}
	return leastWeightedOverhead(servers)
}
