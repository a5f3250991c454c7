package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fastlvs/control/config"
	"fastlvs/testbed"
)

// What one `make bench` does:
//
//  1. Pin the bench process to the generator's core and build fastlvs.
//  2. Build gen ── dir ── sink (topology.go) and attach the counting sink.
//  3. Compare the generators (AF_XDP and trafgen) into a drop program on the
//     director's port; the faster one drives every later run.
//  4. In Repeats rounds (rounds.go): for each priority, each forwarder that
//     takes it (fastlvs dr, nat, fullnat and tun, the C forwarder), then the
//     other peers, start it, send each flow count once, note the pps at the
//     sink and where the director's CPU went (process user/sys, NAPI
//     threads, softirq), stop it. Keep the medians over the rounds.
//  5. TCP: swap the sink for an HTTP server and run wrk through fastlvs NAT,
//     nftables DNAT, haproxy and straight through the director's routing.
//  6. Write latest.md and the PNG plots.

// Options shape a run; DefaultOptions and SmokeOptions fill them.
type Options struct {
	OutDir     string
	Smoke      bool
	Warmup     time.Duration
	Duration   time.Duration // measured time per run
	Repeats    int           // runs per point; the report keeps medians
	Flows      []int         // flow counts for fastlvs and the peers
	GenCPU     int
	DirCPU     int
	Generator  string // "auto" (the faster), "af_xdp" or "trafgen"
	Forwarders []string
	// Priorities are the scheduling policies fastlvs's worker and the C
	// forwarder run under, each in turn (see priority.go); the kernel's
	// paths and testpmd run once. PriorityForwarders, when set, limits the
	// runs at priorities after the first to those forwarders.
	Priorities         []string
	PriorityForwarders []string
	TCP                bool
	TCPTargets         []string
	TCPDuration        time.Duration // per target and mode, split across the TCP rounds
	TCPRounds          int           // interleaved TCP rounds; 0 takes Repeats
	Command            string        // how the run was started, for the report
	Log                io.Writer
}

// DefaultOptions is the full run: under ten minutes on a 2-core machine.
func DefaultOptions() Options {
	return Options{
		OutDir: "bench/results", Warmup: 500 * time.Millisecond, Duration: 1500 * time.Millisecond, Repeats: 3,
		Flows: []int{1, 1000, 60000}, GenCPU: 0, DirCPU: 1, Generator: "auto",
		Forwarders: slices.Clone(Forwarders),
		// fastlvs's default worker_priority (every method and the TCP
		// runs, as it ships), then normal and real-time.
		Priorities:         []string{config.DefaultWorkerPriority, normalPriority, "fifo:10"},
		PriorityForwarders: []string{"fastlvs nat", "cforward"},
		TCP:                true,
		TCPTargets:         []string{"direct", "fastlvs nat", "nftables dnat", "haproxy"},
		TCPDuration:        6 * time.Second,
		TCPRounds:          6,
		Log:                os.Stderr,
	}
}

// SmokeOptions is the CI run: one fastlvs method, the C forwarder and one
// kernel peer, a second each.
func SmokeOptions() Options {
	o := DefaultOptions()
	o.Smoke = true
	o.Warmup, o.Duration, o.Repeats = 300*time.Millisecond, time.Second, 1
	o.Flows = []int{1}
	o.Generator = "af_xdp"
	o.Forwarders = []string{"fastlvs nat", "cforward", "kernel route"}
	o.Priorities, o.PriorityForwarders = []string{normalPriority}, nil
	o.TCPTargets = []string{"fastlvs nat"}
	o.TCPDuration, o.TCPRounds = time.Second, 1
	return o
}

// Report is everything a run measured.
type Report struct {
	Machine    Machine
	Options    Options
	Started    time.Time
	Elapsed    time.Duration
	Generators []Result // generator comparison (method = generator name)
	Generator  string   // the generator used for the forwarder runs
	Packets    []Result
	TCP        []TCPResult
	LoadStart  string // /proc/loadavg's 1-minute figure when the run began
	LoadEnd    string
}

type runner struct {
	ctx    context.Context
	opts   Options
	topo   *Topology
	binary string
	work   string

	cforward    string // the C forwarder's binary, once built
	cforwardErr error
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", args...)
	}
}

// sleep waits for d or until the run is cancelled.
func (r *runner) sleep(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// Run builds the topology, measures and writes the report into opts.OutDir.
// Cancelling ctx stops at the next measurement and still cleans up.
func Run(ctx context.Context, opts Options) (rep *Report, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Repeats < 1 {
		opts.Repeats = 1
	}
	if len(opts.Priorities) == 0 {
		opts.Priorities = []string{normalPriority}
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rep = &Report{Options: opts, Started: time.Now(), Machine: ReadMachine(), LoadStart: loadAverage()}
	r := &runner{ctx: ctx, opts: opts}
	if err := pinProcess(opts.GenCPU); err != nil {
		return nil, err
	}
	if r.work, err = os.MkdirTemp("", "fastlvs-bench-"); err != nil {
		return nil, fmt.Errorf("make work dir: %w", err)
	}
	defer os.RemoveAll(r.work)
	r.logf("building fastlvs")
	if r.binary, err = BuildFastlvs(r.work); err != nil {
		return nil, err
	}
	bed, err := testbed.New(testbed.Options{Prefix: "fbn"})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, bed.Close()) }()
	if r.topo, err = BuildTopology(bed, opts.GenCPU, opts.DirCPU); err != nil {
		return nil, err
	}
	sink, err := AttachSink(r.topo.Sink, r.topo.SinkIf)
	if err != nil {
		return nil, err
	}
	sinkClosed := false
	defer func() {
		if !sinkClosed {
			err = errors.Join(err, sink.Close())
		}
	}()
	time.Sleep(settle)
	if err := r.topo.PinNAPI(); err != nil {
		return nil, err
	}

	gen, genResults, err := r.chooseGenerator()
	if err != nil {
		return nil, err
	}
	rep.Generators, rep.Generator = genResults, gen.Name()
	r.logf("packet rate with %s, director core %d", gen.Name(), opts.DirCPU)
	if rep.Packets, err = r.measureRounds(gen, sink); err != nil {
		return nil, err
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.TCP {
		sinkClosed = true
		if err := sink.Close(); err != nil {
			return nil, err
		}
		rep.TCP = r.runTCP()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(rep.Started)
	rep.LoadEnd = loadAverage()
	if err := WriteReport(rep, opts.OutDir); err != nil {
		return rep, err
	}
	r.logf("report written to %s", filepath.Join(opts.OutDir, "latest.md"))
	return rep, nil
}

// chooseGenerator measures the generators into a drop program on the
// director's port (nothing forwards, so only the generator limits the rate)
// and returns the faster, or the one opts names.
func (r *runner) chooseGenerator() (Generator, []Result, error) {
	t := r.topo
	afxdp := &AFXDPGenerator{Host: t.Gen, Iface: t.GenIf, CPU: t.GenCPU}
	trafgen := &TrafgenGenerator{Host: t.Gen, Iface: t.GenIf, CPU: t.GenCPU, Dir: r.work}
	switch r.opts.Generator {
	case "af_xdp":
		return afxdp, nil, nil
	case "trafgen":
		return trafgen, nil, nil
	case "auto":
	default:
		return nil, nil, fmt.Errorf("generator %q: want auto, af_xdp or trafgen", r.opts.Generator)
	}
	drop, err := AttachSink(t.Dir, t.DirIn)
	if err != nil {
		return nil, nil, err
	}
	defer drop.Close()
	time.Sleep(settle)
	if err := t.PinNAPI(); err != nil {
		return nil, nil, err
	}
	r.logf("generators into an XDP drop on the director's port")
	var results []Result
	best, bestPPS := Generator(afxdp), -1.0
	for _, gen := range []Generator{afxdp, trafgen} {
		var sum float64
		for _, flows := range r.genFlows() {
			res := r.measure(gen.Name(), false, gen, drop, VIP, flows, 0)
			results = append(results, res)
			if res.Measured() {
				sum += res.PPS
			}
		}
		if sum > bestPPS {
			best, bestPPS = gen, sum
		}
	}
	return best, results, nil
}

// genFlows are the flow counts the generators are compared at.
func (r *runner) genFlows() []int {
	return r.opts.Flows[:min(2, len(r.opts.Flows))]
}

// forwarder is the named forwarder at the run's first priority (fastlvs's
// default in a full run).
func (r *runner) forwarder(name string) (Forwarder, error) {
	return r.forwarderAt(name, r.opts.Priorities[0])
}

// forwarderAt is the named forwarder; fastlvs and the C forwarder run their
// packet thread under priority, the others ignore it.
func (r *runner) forwarderAt(name, priority string) (Forwarder, error) {
	switch name {
	case "fastlvs dr", "fastlvs nat", "fastlvs fullnat", "fastlvs tun":
		return &fastlvsForwarder{binary: r.binary, forward: strings.TrimPrefix(name, "fastlvs "), priority: priority, workDir: r.work}, nil
	case "cforward":
		return &cforwardForwarder{binary: r.buildCForward, idle: idlePoll, priority: priority}, nil
	case "cforward spin":
		return &cforwardForwarder{binary: r.buildCForward, idle: idleSpin, priority: priority}, nil
	case "cforward busy":
		return &cforwardForwarder{binary: r.buildCForward, idle: idleBusy, priority: priority}, nil
	case "kernel route":
		return routeForwarder{}, nil
	case "nftables dnat":
		return nftForwarder{}, nil
	case "xdp redirect":
		return xdpRedirectForwarder{}, nil
	case "dpdk-testpmd":
		return testpmdForwarder{}, nil
	}
	return nil, fmt.Errorf("unknown forwarder %q", name)
}

// buildCForward compiles the C forwarder the first time a run needs it.
func (r *runner) buildCForward() (string, error) {
	if r.cforward == "" && r.cforwardErr == nil {
		r.cforward, r.cforwardErr = BuildCForward(r.work)
	}
	return r.cforward, r.cforwardErr
}

// clearDirectorXDP detaches what a forwarder (who) left on the director's
// ports, and says so.
func (r *runner) clearDirectorXDP(who string) {
	if cleared, err := r.topo.ClearDirectorXDP(); err != nil || len(cleared) > 0 {
		r.logf("  %s left XDP attached on %v (detached, error: %v)", who, cleared, err)
	}
}
