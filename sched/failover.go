package sched

// weightedFailover is IPVS fo (ip_vs_fo.c): the available server with the highest weight; the first in list order
// on a tie. Lower-weight servers only take connections when every heavier one is quiescent or overloaded.
type weightedFailover struct{ plan *Plan }

func (fo *weightedFailover) Schedule(_ *Flow, _ int64) int {
	best, bestWeight := -1, int64(0)
	for i := range fo.plan.servers {
		s := &fo.plan.servers[i]
		if s.available() && s.weight > bestWeight {
			best, bestWeight = i, s.weight
		}
	}
	return best
}

// overflow is IPVS ovf (ip_vs_ovf.c): the highest-weight server whose active connections do not exceed its weight
// (active > weight disqualifies, so a server takes weight+1 active connections before overflowing to the next);
// the first in list order on a tie.
type overflow struct{ plan *Plan }

func (o *overflow) Schedule(_ *Flow, _ int64) int {
	best, bestWeight := -1, int64(0)
	for i := range o.plan.servers {
		s := &o.plan.servers[i]
		if !s.available() || s.load.Active() > s.weight {
			continue
		}
		if s.weight > bestWeight {
			best, bestWeight = i, s.weight
		}
	}
	return best
}
