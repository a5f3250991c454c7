package sched

// wrrPlan is what IPVS wrr derives from the weights when the service changes.
type wrrPlan struct {
	gcd       int64 // di: the step by which the current weight falls
	maxWeight int64 // mw: the maximum weight less (gcd-1), where the current weight restarts
}

func buildWeightedRoundRobin(p *Plan, _ *Config) error {
	var gcd, maxWeight int64
	for _, s := range p.servers {
		if s.weight > 0 {
			gcd = greatestCommonDivisor(gcd, s.weight)
		}
		maxWeight = max(maxWeight, s.weight)
	}
	if gcd == 0 {
		gcd = 1
	}
	p.wrr = wrrPlan{gcd: gcd, maxWeight: maxWeight - (gcd - 1)}
	return nil
}

func greatestCommonDivisor(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// weightedRoundRobin is IPVS wrr (ip_vs_wrr.c): passes over the server list with a current weight cw that starts
// at the maximum weight and falls by the weights' gcd after each pass; a pass picks, in order, every available
// server whose weight is at least cw. Weights 4,3,2 give A A B A B C A B C, then repeat.
type weightedRoundRobin struct {
	plan    *Plan
	cursor  int   // index of the last pick; -1 = the list head
	current int64 // cw
}

func newWeightedRoundRobin(p *Plan) Scheduler {
	return &weightedRoundRobin{plan: p, cursor: -1, current: p.wrr.maxWeight}
}

func (w *weightedRoundRobin) Schedule(_ *Flow, _ int64) int {
	plan := w.plan
	if plan.wrr.maxWeight <= 0 {
		return -1
	}
	servers := plan.servers
	n := len(servers)
	// As in IPVS: scan from the server after the cursor to the end of the list; at the end lower cw and start
	// again from the head. Once cw has wrapped and reached its last level (cw <= gcd: every weight >= 1 qualifies),
	// stop at the server where this call began: nothing is available.
	last := w.cursor
	stop := -2 // none yet
	i := w.cursor
	lastPass, restarted := false, false
	for {
		for i+1 < n {
			i++
			s := &servers[i]
			if s.weight >= w.current && !s.load.Overloaded() {
				w.cursor = i
				return i
			}
			if i == stop {
				w.cursor = i
				return -1
			}
		}
		i = -1 // back to the head
		w.current -= plan.wrr.gcd
		if w.current <= 0 {
			w.current = plan.wrr.maxWeight
			if lastPass || last == -1 {
				w.cursor = -1
				return -1
			}
			restarted = true
		}
		lastPass = w.current <= plan.wrr.gcd
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}
