package bench

import (
	"errors"
	"math"
)

// The host these runs share is noisy in phases that last from seconds to
// minutes, and on two cores the generator's rate itself moves with them. So
// the packet-rate runs go round by round: each round starts every planned
// forwarder once, sends each flow count once and stops it, and the report
// keeps the medians over the rounds. fastlvs and the C forwarder then meet
// every phase alike, and a ratio can pair the runs of one round (Ratio).

// forwarderRounds is one planned forwarder's samples over the rounds, one
// slot per flow count.
type forwarderRounds struct {
	run     plannedRun
	fastlvs bool
	samples [][]sample  // per flow count: the rounds that measured it
	rounds  [][]float64 // per flow count: pps per round, NaN where it failed
	errs    []error     // per flow count: the last failure
	skip    error       // the forwarder cannot run here: not retried
}

// measureRounds measures every planned forwarder in opts.Repeats rounds and
// returns one result per forwarder and flow count, in plan order.
func (r *runner) measureRounds(gen Generator, sink *Sink) ([]Result, error) {
	plan := r.opts.plan()
	all := make([]*forwarderRounds, len(plan))
	for i, run := range plan {
		n := len(r.opts.Flows)
		all[i] = &forwarderRounds{run: run, samples: make([][]sample, n), rounds: make([][]float64, n), errs: make([]error, n)}
	}
	for round := range r.opts.Repeats {
		r.logf("round %d of %d", round+1, r.opts.Repeats)
		for _, s := range all {
			if err := r.ctx.Err(); err != nil {
				return nil, err
			}
			fwd, err := r.forwarderAt(s.run.name, s.run.priority)
			if err != nil {
				return nil, err
			}
			s.fastlvs = fwd.IsFastlvs()
			r.forwarderRound(fwd, gen, sink, s)
		}
	}
	var out []Result
	for _, s := range all {
		for j, flows := range r.opts.Flows {
			res := Result{Method: s.run.name, Fastlvs: s.fastlvs, Flows: flows, Priority: s.run.priority, RoundPPS: s.rounds[j]}
			if len(s.samples[j]) == 0 {
				res.Note = "not measured: " + s.errs[j].Error()
				r.logf("  %-24s %6d flows: %s", res.Label(), flows, res.Note)
				out = append(out, res)
				continue
			}
			out = append(out, r.summarize(res, s.samples[j]))
		}
	}
	return out, nil
}

// forwarderRound starts fwd, sends each flow count once and stops it,
// adding what it measured to s.
func (r *runner) forwarderRound(fwd Forwarder, gen Generator, sink *Sink, s *forwarderRounds) {
	failAll := func(err error) {
		for j := range s.errs {
			s.errs[j] = err
			s.rounds[j] = append(s.rounds[j], math.NaN())
		}
		r.logf("  %-24s not measured: %v", fwd.Name(), err)
	}
	if s.skip != nil {
		failAll(s.skip)
		return
	}
	r.clearDirectorXDP("before " + fwd.Name())
	running, err := fwd.Start(r.topo)
	if err != nil {
		r.clearDirectorXDP(fwd.Name() + ", which failed to start,")
		if _, ok := errors.AsType[*NotAvailableError](err); ok {
			s.skip = err
		}
		failAll(err)
		return
	}
	defer r.clearDirectorXDP(fwd.Name())
	defer func() {
		if err := running.Stop(); err != nil {
			r.logf("  stop %s: %v", fwd.Name(), err)
		}
	}()
	if err := r.topo.PinNAPI(); err != nil {
		failAll(err)
		return
	}
	label := Result{Method: fwd.Name(), Priority: s.run.priority}.Label()
	for j, flows := range r.opts.Flows {
		one, err := r.measureOnce(gen, sink, fwd.Destination(), flows, running.PID())
		if err != nil {
			s.errs[j] = err
			s.rounds[j] = append(s.rounds[j], math.NaN())
			r.logf("  %-24s %6d flows: %v", label, flows, err)
			if running.Log() != "" {
				r.logf("%s output:\n%s", fwd.Name(), lastLines(running.Log(), 10))
			}
			continue
		}
		s.samples[j] = append(s.samples[j], one)
		s.rounds[j] = append(s.rounds[j], one.pps)
		r.logf("  %-24s %6d flows: %9.0f pps at sink (offered %9.0f)", label, flows, one.pps, one.sentPPS)
	}
}
