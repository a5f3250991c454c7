package bench

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"fastlvs/testbed"
)

// TCPResult is one wrk run: requests per second and latency percentiles
// through one target, with keep-alive or a new connection per request.
type TCPResult struct {
	Target        string
	NewConnection bool // "Connection: close": requests/s are connections/s
	RPS           float64
	P50, P99      time.Duration
	Errors        int // socket errors plus non-2xx answers
	// RoundRPS and RoundP99 (in ns) are each round's figures, in round
	// order, NaN where the round did not run, so ratios can pair rounds.
	RoundRPS, RoundP99 []float64
	Note               string
}

// Mode names the connection mode for the report.
func (r TCPResult) Mode() string {
	if r.NewConnection {
		return "new connection per request"
	}
	return "keep-alive"
}

// wrkConnections is the concurrency of every TCP run.
const wrkConnections = 64

// runTCP serves HTTP on the sink and runs wrk against each target.
func (r *runner) runTCP() []TCPResult {
	t := r.topo
	var out []TCPResult
	notMeasured := func(target, reason string) {
		for _, nc := range []bool{false, true} {
			out = append(out, TCPResult{Target: target, NewConnection: nc, Note: "not measured: " + reason})
		}
		r.logf("  %-16s not measured: %s", target, reason)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		for _, target := range r.opts.TCPTargets {
			notMeasured(target, "wrk not installed (apt-get install wrk)")
		}
		return out
	}
	// Clients that open a connection per request need more ports than the
	// default range and may reuse TIME_WAIT ones.
	for _, kv := range [][2]string{{"net.ipv4.ip_local_port_range", "1024 65000"}, {"net.ipv4.tcp_tw_reuse", "1"}} {
		if err := t.Gen.Sysctl(kv[0], kv[1]); err != nil {
			notMeasured("all", err.Error())
			return out
		}
	}
	server, err := t.Sink.ServeHTTP("sink", net.JoinHostPort("0.0.0.0", strconv.Itoa(HTTPPort)))
	if err != nil {
		notMeasured("all", err.Error())
		return out
	}
	defer server.Close()
	time.Sleep(settle) // the sink's XDP program was just detached
	_ = t.PinNAPI()
	// The machine is shared and noisy: instead of one long run per target,
	// every target gets Repeats short runs, interleaved round by round so a
	// burst of foreign load hits them alike, and the report keeps medians.
	rounds, perRun := r.opts.tcpRounds()
	r.logf("TCP: wrk, %d connections, %d interleaved rounds of %s per target and mode", wrkConnections, rounds, perRun)
	samples := map[string][]TCPResult{} // by round; a round that did not run has a Note
	for _, target := range r.opts.TCPTargets {
		for _, newConn := range []bool{false, true} {
			key := target + "/" + TCPResult{NewConnection: newConn}.Mode()
			samples[key] = make([]TCPResult, rounds)
			for i := range samples[key] {
				samples[key][i].Note = "not measured: round did not run"
			}
		}
	}
	failed := map[string]string{}
	for round := 0; round < rounds && r.ctx.Err() == nil; round++ {
		for _, target := range r.opts.TCPTargets {
			if r.ctx.Err() != nil {
				break
			}
			if _, ok := failed[target]; ok {
				continue
			}
			results, err := r.tcpRound(target, perRun)
			if err != nil {
				failed[target] = err.Error() // logged by notMeasured below
				continue
			}
			for _, res := range results {
				samples[res.Target+"/"+res.Mode()][round] = res
			}
		}
	}
	for _, target := range r.opts.TCPTargets {
		if reason, ok := failed[target]; ok && !anyMeasured(samples[target+"/"+TCPResult{}.Mode()]) {
			notMeasured(target, reason)
			continue
		}
		for _, newConn := range []bool{false, true} {
			key := target + "/" + TCPResult{NewConnection: newConn}.Mode()
			out = append(out, medianTCP(target, newConn, samples[key]))
		}
	}
	return out
}

// tcpRound starts one target, runs wrk with keep-alive and with a new
// connection per request for d each, and stops it.
func (r *runner) tcpRound(target string, d time.Duration) ([]TCPResult, error) {
	t := r.topo
	url := "http://" + net.JoinHostPort(VIP, strconv.Itoa(HTTPPort)) + "/"
	var running Running
	var err error
	switch target {
	case "direct":
		url = "http://" + net.JoinHostPort(SinkAddr, strconv.Itoa(HTTPPort)) + "/"
	case "fastlvs nat", "nftables dnat":
		fwd, _ := r.forwarder(target)
		running, err = fwd.Start(t)
	case "haproxy":
		running, err = r.startHAProxy()
	default:
		err = fmt.Errorf("unknown TCP target %q", target)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if running != nil {
			if err := running.Stop(); err != nil {
				r.logf("  stop %s: %v", target, err)
			}
		}
	}()
	_ = t.PinNAPI()
	if err := r.waitListening(VIP); err != nil && target != "direct" {
		return nil, err
	}
	var out []TCPResult
	for _, newConn := range []bool{false, true} {
		out = append(out, r.wrk(target, url, newConn, d))
	}
	return out, nil
}

// medianTCP folds one target and mode's rounds into their medians; errors
// add up. Rounds wrk could not measure count only when all failed.
func medianTCP(target string, newConn bool, rounds []TCPResult) TCPResult {
	res := TCPResult{Target: target, NewConnection: newConn}
	var measured []TCPResult
	for _, round := range rounds {
		res.Errors += round.Errors
		rps, p99 := math.NaN(), math.NaN()
		if round.Note == "" {
			measured = append(measured, round)
			rps, p99 = round.RPS, float64(round.P99)
		} else if res.Note == "" {
			res.Note = round.Note
		}
		res.RoundRPS = append(res.RoundRPS, rps)
		res.RoundP99 = append(res.RoundP99, p99)
	}
	if len(measured) == 0 {
		if res.Note == "" {
			res.Note = "not measured: no round ran"
		}
		return res
	}
	res.Note = ""
	res.RPS = median(measured, func(x TCPResult) float64 { return x.RPS })
	res.P50 = time.Duration(median(measured, func(x TCPResult) float64 { return float64(x.P50) }))
	res.P99 = time.Duration(median(measured, func(x TCPResult) float64 { return float64(x.P99) }))
	return res
}

// tcpRounds is how many rounds the TCP comparison runs and how long each
// run of a target and mode lasts.
func (o Options) tcpRounds() (rounds int, perRun time.Duration) {
	rounds = o.TCPRounds
	if rounds == 0 {
		rounds = max(1, o.Repeats)
	}
	return rounds, max(time.Second, (o.TCPDuration / time.Duration(rounds)).Round(100*time.Millisecond))
}

// anyMeasured says one of rounds ran.
func anyMeasured(rounds []TCPResult) bool {
	for _, r := range rounds {
		if r.Note == "" {
			return true
		}
	}
	return false
}

// waitListening dials addr:80 from the generator until it connects (2 s).
func (r *runner) waitListening(addr string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := r.topo.Gen.Do(func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(HTTPPort)), 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no TCP answer from %s:%d: %w", addr, HTTPPort, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wrk runs wrk on the generator's core for d and parses its summary.
func (r *runner) wrk(target, url string, newConn bool, d time.Duration) TCPResult {
	res := TCPResult{Target: target, NewConnection: newConn}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-c", strconv.Itoa(r.topo.GenCPU), "wrk", "-t1", "-c" + strconv.Itoa(wrkConnections),
		"-d" + strconv.Itoa(secs) + "s", "--timeout", "2s", "--latency"}
	if newConn {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	out, err := r.topo.Gen.Run(append([]string{"taskset"}, args...)...)
	if err != nil {
		res.Note = "not measured: " + err.Error()
		r.logf("  %-16s %-26s %v", target, res.Mode(), err)
		return res
	}
	if err := parseWrk(string(out), &res); err != nil {
		res.Note = "not measured: " + err.Error()
	}
	r.logf("  %-16s %-26s %8.0f req/s  p50 %s  p99 %s  errors %d", target, res.Mode(), res.RPS, fmtLatency(res.P50), fmtLatency(res.P99), res.Errors)
	return res
}

var (
	wrkRPSRE     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPctRE     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocketRE  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkUnitScale = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
)

// parseWrk reads requests/s, the 50th and 99th latency percentiles and the
// error counts from wrk --latency output.
func parseWrk(out string, res *TCPResult) error {
	m := wrkRPSRE.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("wrk printed no Requests/sec: %s", lastLines(out, 3))
	}
	res.RPS, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPctRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		d := time.Duration(v * float64(wrkUnitScale[p[3]]))
		if p[1] == "50" {
			res.P50 = d
		} else {
			res.P99 = d
		}
	}
	if s := wrkSocketRE.FindStringSubmatch(out); s != nil {
		for _, f := range s[1:] {
			n, _ := strconv.Atoi(f)
			res.Errors += n
		}
	}
	if s := wrkNon2xxRE.FindStringSubmatch(out); s != nil {
		n, _ := strconv.Atoi(s[1])
		res.Errors += n
	}
	return nil
}

// haproxyConfig proxies VIP:80 to the sink in TCP mode with one thread.
func haproxyConfig() string {
	return fmt.Sprintf(`global
	nbthread 1
	maxconn 4096
defaults
	mode tcp
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend bench
	bind %s:%d
	default_backend sink
backend sink
	server sink %s:%d
`, VIP, HTTPPort, SinkAddr, HTTPPort)
}

// startHAProxy runs haproxy in the director namespace on the director's core.
func (r *runner) startHAProxy() (Running, error) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return nil, &NotAvailableError{Reason: "haproxy not installed (apt-get install haproxy)"}
	}
	path := filepath.Join(r.work, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(haproxyConfig()), 0o644); err != nil {
		return nil, fmt.Errorf("write haproxy config: %w", err)
	}
	p, err := testbed.StartProcess(r.topo.Dir.Command("taskset", "-c", strconv.Itoa(r.topo.DirCPU), "haproxy", "-db", "-f", path))
	if err != nil {
		return nil, err
	}
	if err := r.waitListening(VIP); err != nil {
		p.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, errors.Join(err, errors.New(p.Tail(3)))
	}
	return &processRunning{p: p, sig: syscall.SIGTERM}, nil
}
