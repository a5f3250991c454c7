package sched

// The least-connection family (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c). Each scans the servers in list
// order and keeps the first one with the smallest cost; ties go to the earlier server. Costs with weights are
// compared by cross-multiplication (h1/w1 > h2/w2 ⇔ h1·w2 > h2·w1, weights > 0) so no division is needed.

// leastConn is IPVS lc: the smallest overhead (active·256 + inactive), weights ignored except 0 = quiescent.
type leastConn struct{ plan *Plan }

func (l *leastConn) Schedule(_ *Flow, _ int64) int {
	least, leastOverhead := -1, int64(0)
	for i := range l.plan.servers {
		s := &l.plan.servers[i]
		if !s.available() {
			continue
		}
		if overhead := s.overhead(); least < 0 || overhead < leastOverhead {
			least, leastOverhead = i, overhead
		}
	}
	return least
}

// weightedLeastConn is IPVS wlc: the smallest overhead/weight.
type weightedLeastConn struct{ plan *Plan }

func (w *weightedLeastConn) Schedule(_ *Flow, _ int64) int {
	return leastWeightedOverhead(w.plan.servers)
}

// leastWeightedOverhead is the wlc pick, shared by wlc, lblc and lblcr (and twos's fallback).
func leastWeightedOverhead(servers []server) int {
	least, leastOverhead, leastWeight := -1, int64(0), int64(0)
	for i := range servers {
		s := &servers[i]
		if !s.available() {
			continue
		}
		overhead := s.overhead()
		if least < 0 || leastOverhead*s.weight > overhead*leastWeight {
			least, leastOverhead, leastWeight = i, overhead, s.weight
		}
	}
	return least
}

// shortestExpectedDelay is IPVS sed: the smallest (active+1)/weight. Inactive connections do not count.
type shortestExpectedDelay struct{ plan *Plan }

func (d *shortestExpectedDelay) Schedule(_ *Flow, _ int64) int {
	least, leastDelay, leastWeight := -1, int64(0), int64(0)
	for i := range d.plan.servers {
		s := &d.plan.servers[i]
		if !s.available() {
			continue
		}
		delay := s.load.Active() + 1
		if least < 0 || leastDelay*s.weight > delay*leastWeight {
			least, leastDelay, leastWeight = i, delay, s.weight
		}
	}
	return least
}

// neverQueue is IPVS nq: the first idle server (no active connections), else as sed.
type neverQueue struct{ plan *Plan }

func (q *neverQueue) Schedule(_ *Flow, _ int64) int {
	least, leastDelay, leastWeight := -1, int64(0), int64(0)
	for i := range q.plan.servers {
		s := &q.plan.servers[i]
		if !s.available() {
			continue
		}
		active := s.load.Active()
		if active == 0 {
			return i
		}
		delay := active + 1
		if least < 0 || leastDelay*s.weight > delay*leastWeight {
			least, leastDelay, leastWeight = i, delay, s.weight
		}
	}
	return least
}
