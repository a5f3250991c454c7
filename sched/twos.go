package sched

import "math/bits"

// twosPlan is an alias table (Walker/Vose) over the weighted servers: a draw picks a column uniformly and then the
// column's own server or its alias by a biased coin, so a weighted draw costs O(1) whatever the server count.
type twosPlan struct {
	columns []aliasColumn
	total   int64 // sum of weights; each column's capacity
}

type aliasColumn struct {
	threshold int64 // the column's own server wins when a uniform point in [0, total) is below this
	own       int32
	alias     int32
}

// buildTwoChoices fills the alias table deterministically (index order worklists, integer arithmetic).
func buildTwoChoices(p *Plan, _ *Config) error {
	var weighted []int32
	for i, s := range p.servers {
		if s.weight > 0 {
			weighted = append(weighted, int32(i))
			p.twos.total += s.weight
		}
	}
	n := int64(len(weighted))
	columns := make([]aliasColumn, n)
	mass := make([]int64, n) // weight·n, against a column capacity of total
	var small, large []int
	for k, server := range weighted {
		columns[k] = aliasColumn{threshold: p.twos.total, own: server, alias: server}
		mass[k] = p.servers[server].weight * n
		if mass[k] < p.twos.total {
			small = append(small, k)
		} else {
			large = append(large, k)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		columns[s].threshold, columns[s].alias = mass[s], columns[l].own
		mass[l] -= p.twos.total - mass[s]
		if mass[l] < p.twos.total {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	p.twos.columns = columns
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

// draw picks a weighted server.
func (t *twoChoices) draw() int {
	line := &t.plan.twos
	column, _ := bits.Mul64(t.random(), uint64(len(line.columns))) // uniform in [0, n) without a division
	point, _ := bits.Mul64(t.random(), uint64(line.total))
	c := &line.columns[column]
	if int64(point) < c.threshold {
		return int(c.own)
	}
	return int(c.alias)
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
