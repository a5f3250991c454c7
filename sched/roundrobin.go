package sched

// roundRobin is IPVS rr: the next available server after the one picked last, in list order.
type roundRobin struct {
	plan *Plan
	last int // index of the last pick; -1 before the first, like IPVS's cursor resting on the list head
}

func newRoundRobin(p *Plan) Scheduler { return &roundRobin{plan: p, last: -1} }

func (r *roundRobin) Schedule(_ *Flow, _ int64) int {
	servers := r.plan.servers
	n := len(servers)
	for step := 1; step <= n; step++ {
		i := (r.last + step) % n
		if r.last < 0 {
			i = step - 1
		}
		if servers[i].available() {
			r.last = i
			return i
		}
	}
	return -1
}
