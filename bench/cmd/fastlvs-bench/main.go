// Command fastlvs-bench measures fastlvs against its peers on one machine:
// as root it builds a generator → director → sink namespace line, drives the
// director with a packet generator, and writes a Markdown report and PNG
// plots (pps at the sink, director CPU, ratios against peers measured in the
// same run on the same ports and cores; TCP requests/s and latency).
//
//	go run ./bench/cmd/fastlvs-bench -out bench/results          full run (< 10 min on 2 cores)
//	go run ./bench/cmd/fastlvs-bench -out /tmp/smoke -smoke      seconds: what CI runs
//	go run ./bench/cmd/fastlvs-bench -out /tmp/b -targets fastlvs-nat,cforward -flows 1,60000 \
//	    -priority normal,fifo:10 -duration 1s -repeats 1 -tcp=false    a minute: fastlvs against the C forwarder
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"fastlvs/bench"
)

func main() {
	opts := bench.DefaultOptions()
	smoke := flag.Bool("smoke", false, "tiny run: fastlvs nat, the C forwarder and kernel routing, about a second each")
	out := flag.String("out", opts.OutDir, "directory for latest.md and the plots")
	generator := flag.String("generator", "", "auto (measure both, use the faster), af_xdp or trafgen")
	duration := flag.Duration("duration", 0, "measured time per packet-rate run")
	repeats := flag.Int("repeats", 0, "runs per point (the report keeps medians)")
	tcp := flag.Bool("tcp", true, "run the wrk TCP comparison")
	genCPU := flag.Int("gen-cpu", opts.GenCPU, "core of the generator, the sink's NAPI and wrk")
	dirCPU := flag.Int("dir-cpu", opts.DirCPU, "core of the director: its NAPI and the forwarder")
	targets := flag.String("targets", "", "comma-separated packet-rate targets (default all): "+
		strings.ReplaceAll(strings.Join(bench.Forwarders, ","), " ", "-"))
	flows := flag.String("flows", "", "comma-separated flow counts (default 1,1000,60000)")
	priority := flag.String("priority", "", "comma-separated scheduling policies for fastlvs's worker and the C forwarder, "+
		"each measured in turn: normal, nice:<n>, fifo:<prio> (default fastlvs's default, normal and fifo:10; past the first only for fastlvs nat and cforward)")
	flag.Parse()

	if *smoke {
		opts = bench.SmokeOptions()
	}
	opts.OutDir, opts.TCP, opts.GenCPU, opts.DirCPU = *out, *tcp, *genCPU, *dirCPU
	if *generator != "" {
		opts.Generator = *generator
	}
	if *duration > 0 {
		opts.Duration = *duration
	}
	if *repeats > 0 {
		opts.Repeats = *repeats
	}
	if err := parseLists(&opts, *targets, *flows, *priority); err != nil {
		fmt.Fprintln(os.Stderr, "fastlvs-bench:", err)
		os.Exit(2)
	}
	opts.Command = "fastlvs-bench " + strings.Join(os.Args[1:], " ")
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "fastlvs-bench: must run as root (it makes network namespaces and loads XDP programs)")
		os.Exit(1)
	}
	// Ctrl-C or a kill ends the run at the next measurement, with the
	// namespaces, processes and sysctls it made cleaned up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if _, err := bench.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "fastlvs-bench:", err)
		stop()
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "done in %s\n", time.Since(start).Round(time.Second))
}

// parseLists applies the -targets, -flows and -priority lists. Naming the
// targets measures every one of them at every priority.
func parseLists(opts *bench.Options, targets, flows, priority string) error {
	var err error
	if targets != "" {
		if opts.Forwarders, err = bench.ParseTargets(targets); err != nil {
			return err
		}
		opts.PriorityForwarders = nil
	}
	if flows != "" {
		if opts.Flows, err = bench.ParseFlows(flows); err != nil {
			return err
		}
	}
	if priority != "" {
		if opts.Priorities, err = bench.ParsePriorities(priority); err != nil {
			return err
		}
	}
	return nil
}
