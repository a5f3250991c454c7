package bench

import (
	"fmt"
	"math"
	"net"
	"slices"
	"time"
)

// Result is one packet-rate measurement: the medians of Runs runs of one
// forwarder (or generator) at one flow count.
type Result struct {
	Method   string
	Fastlvs  bool
	Flows    int
	PPS      float64 // frames counted at the sink per second
	CoreBusy float64 // the director core's busy share, % (softirq included)
	ProcBusy float64 // the forwarder process's CPU, % of one core; NaN for in-kernel paths
	SentPPS  float64 // what the generator offered, frames per second
	// Priority is the scheduling policy the forwarder ran under ("normal",
	// "nice:-20", "fifo:10"); empty for paths that take none (the kernel's).
	Priority string
	CPU      CPUSplit
	Runs     int
	// RoundPPS is the pps of each round of the run, in order (NaN for a
	// round that failed), so a ratio can pair runs made close in time.
	RoundPPS []float64
	Note     string // "not measured: <reason>" when PPS means nothing
}

// CPUSplit is where the director's CPU went during a run: the forwarder
// process's user and system time and the NAPI kthreads of the director's two
// ports, each in % of one core (NaN when there is no such process), and the
// softirq share of the director core.
type CPUSplit struct {
	ProcUser, ProcSys, NAPI, CoreSoftirq float64
}

// Label names the result in tables and plots: the method, and its priority
// unless normal.
func (r Result) Label() string {
	if r.Priority == "" || r.Priority == "normal" {
		return r.Method
	}
	return r.Method + " (" + r.Priority + ")"
}

// Measured says the result holds numbers.
func (r Result) Measured() bool { return r.Note == "" }

// sample is one run's raw figures.
type sample struct {
	pps, coreBusy, procBusy, sentPPS float64
	cpu                              CPUSplit
}

// counter is what a run reads its received-frame count from.
type counter interface{ Count() (uint64, error) }

// measureOnce sends flows to dst for warmup+duration and counts what the sink
// receives during duration; pid (0 for none) is the forwarder process.
func (r *runner) measureOnce(gen Generator, sink counter, dst string, flows, pid int) (sample, error) {
	t := r.topo
	traffic := Traffic{SrcMAC: t.GenMAC, DstMAC: t.DirInMAC, Src: net.ParseIP(GenAddr), Dst: net.ParseIP(dst),
		DstPort: ServicePort, Flows: flows}
	total := r.opts.Warmup + r.opts.Duration
	maxPackets := uint64(maxGeneratorPPS * (total + time.Second).Seconds())
	job, err := gen.Start(traffic, maxPackets, total+time.Second)
	if err != nil {
		return sample{}, err
	}
	defer func() { job.Stop(); _, _ = job.Wait() }()

	if err := r.sleep(r.opts.Warmup); err != nil {
		return sample{}, err
	}
	c0, err := sink.Count()
	if err != nil {
		return sample{}, err
	}
	napi, err := napiThreadsOf(t.DirIn, t.DirOut)
	if err != nil {
		return sample{}, err
	}
	s0, err := sampleCPU(t.DirCPU, pid, napi)
	if err != nil {
		return sample{}, err
	}
	if err := r.sleep(r.opts.Duration); err != nil {
		return sample{}, err
	}
	c1, err := sink.Count()
	if err != nil {
		return sample{}, err
	}
	s1, err := sampleCPU(t.DirCPU, pid, napi)
	if err != nil {
		return sample{}, err
	}
	job.Stop()
	sent, err := job.Wait()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", gen.Name(), err)
	}
	secs := s1.at.Sub(s0.at).Seconds()
	out := sample{
		pps:      float64(c1-c0) / secs,
		coreBusy: coreBusy(s0, s1),
		procBusy: math.NaN(),
		sentPPS:  float64(sent) / (total + genDrain).Seconds(),
		cpu:      CPUSplit{ProcUser: math.NaN(), ProcSys: math.NaN(), NAPI: napiBusy(s0, s1), CoreSoftirq: coreSoftirq(s0, s1)},
	}
	if len(napi) == 0 {
		out.cpu.NAPI = math.NaN()
	}
	if pid > 0 {
		out.procBusy = processBusy(s0, s1)
		out.cpu.ProcUser, out.cpu.ProcSys = processUser(s0, s1), processSys(s0, s1)
	}
	return out, nil
}

// maxGeneratorPPS bounds a generator's packet count: far above what one core
// sends on veth, so time ends a run, but never unbounded.
const maxGeneratorPPS = 20e6

// genDrain is roughly how long past its deadline a generator keeps running.
const genDrain = 50 * time.Millisecond

// measure runs measureOnce opts.Repeats times in a row and keeps the medians.
func (r *runner) measure(name string, fastlvs bool, gen Generator, sink counter, dst string, flows, pid int) Result {
	var samples []sample
	for range r.opts.Repeats {
		s, err := r.measureOnce(gen, sink, dst, flows, pid)
		if err != nil {
			r.logf("  %-16s %6d flows: %v", name, flows, err)
			return Result{Method: name, Fastlvs: fastlvs, Flows: flows, Note: "not measured: " + err.Error()}
		}
		samples = append(samples, s)
	}
	return r.summarize(Result{Method: name, Fastlvs: fastlvs, Flows: flows}, samples)
}

// summarize fills res with the medians of samples, and logs them.
func (r *runner) summarize(res Result, samples []sample) Result {
	res.Runs = len(samples)
	res.PPS = median(samples, func(s sample) float64 { return s.pps })
	res.CoreBusy = median(samples, func(s sample) float64 { return s.coreBusy })
	res.ProcBusy = median(samples, func(s sample) float64 { return s.procBusy })
	res.SentPPS = median(samples, func(s sample) float64 { return s.sentPPS })
	res.CPU = CPUSplit{
		ProcUser:    median(samples, func(s sample) float64 { return s.cpu.ProcUser }),
		ProcSys:     median(samples, func(s sample) float64 { return s.cpu.ProcSys }),
		NAPI:        median(samples, func(s sample) float64 { return s.cpu.NAPI }),
		CoreSoftirq: median(samples, func(s sample) float64 { return s.cpu.CoreSoftirq }),
	}
	if res.PPS == 0 || math.IsNaN(res.PPS) {
		res.PPS = 0
		res.Note = "not measured: no packets reached the sink"
	}
	r.logf("  %-24s %6d flows: %9.0f pps at sink (offered %9.0f), core %d busy %5.1f%% (softirq %4.1f%%), "+
		"process user %5.1f%% sys %5.1f%%, NAPI %5.1f%% (median of %d)",
		res.Label(), res.Flows, res.PPS, res.SentPPS, r.topo.DirCPU, res.CoreBusy, res.CPU.CoreSoftirq,
		res.CPU.ProcUser, res.CPU.ProcSys, res.CPU.NAPI, res.Runs)
	return res
}

// median of f over samples (NaNs sort first and are skipped when others exist).
func median[T any](samples []T, f func(T) float64) float64 {
	var vals []float64
	for _, s := range samples {
		if v := f(s); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return math.NaN()
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}
