package main

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"fastlvs/cmd/internal/cli"
	"fastlvs/testbed"
)

//go:embed demo.yaml
var demoConfig []byte

// runDemo builds a sandbox of namespaces (two clients, the director, three
// real servers), runs this binary as the director inside it, drives HTTP and
// UDP through it for a bounded time while printing live rates, then removes
// everything it made.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs demo", pflag.ContinueOnError)
	cli.SetUsage(fs, "Usage:\n  fastlvs demo [--duration D] [--max-requests N]\n")
	duration := fs.Duration("duration", 10*time.Second, "how long to drive traffic")
	maxRequests := fs.Int("max-requests", 50000, "stop after this many requests")
	if code, ok := cli.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := demo(*duration, *maxRequests, stdout); err != nil {
		fmt.Fprintln(stderr, "fastlvs demo:", err)
		return 1
	}
	return 0
}

func demo(duration time.Duration, maxRequests int, out io.Writer) error {
	bed, err := testbed.New(testbed.Options{Prefix: "flvdemo"})
	if err != nil {
		return fmt.Errorf("build sandbox: %w", err)
	}
	defer bed.Close()
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Clients: 2, Reals: 3})
	if err != nil {
		return fmt.Errorf("build topology: %w", err)
	}
	httpServers, udpServers, err := topo.StartServers(80, 7)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox: clients %v -> director %s (VIP %s) -> real servers %v\n",
		topo.ClientAddrs, topo.Director.Name, topo.VIPs[0], topo.RealAddrs)

	dir, err := os.MkdirTemp("", "fastlvs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	configPath := filepath.Join(dir, "fastlvs.yaml")
	if err := os.WriteFile(configPath, demoConfig, 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	director := topo.Director.Command(self, "--config", configPath, "--stats-interval", "1s",
		"--api", "unix://"+filepath.Join(dir, "api.sock"))
	pipe, err := director.StdoutPipe()
	if err != nil {
		return err
	}
	director.Stderr = prefixWriter(out, "director log: ")
	if err := director.Start(); err != nil {
		return fmt.Errorf("start director: %w", err)
	}
	defer func() {
		_ = director.Process.Signal(syscall.SIGTERM)
		_ = director.Wait()
	}()
	go func() {
		scanner := bufio.NewScanner(pipe)
		for scanner.Scan() {
			fmt.Fprintln(out, "  "+scanner.Text())
		}
	}()
	time.Sleep(2 * settle)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for i, client := range topo.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && sent.Load() < int64(maxRequests); n++ {
				var err error
				if n%10 == 9 {
					_, err = client.UDPRequest(ctx, topo.VIPs[0]+":7", topo.ClientAddrs[i], []byte("ping"), time.Second)
				} else {
					_, err = client.HTTPGet(ctx, "http://"+topo.VIPs[0]+"/", topo.ClientAddrs[i])
				}
				sent.Add(1)
				if err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
		fmt.Fprintf(out, "requests %d (failed %d); per real server (HTTP conns / UDP):", sent.Load(), failed.Load())
		for i := range httpServers {
			fmt.Fprintf(out, "  %s %d/%d", topo.RealAddrs[i], httpServers[i].Requests(), udpServers[i].Requests())
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "demo done; removing the sandbox")
	return nil
}

// prefixWriter prefixes each line written through it.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	r, pw := io.Pipe()
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			fmt.Fprintln(w, prefix+strings.TrimSpace(s.Text()))
		}
	}()
	return pw
}
