package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 5s test @ http://198.18.0.10:80/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.96ms    1.04ms  24.99ms   90.35%
    Req/Sec    21.75k     1.10k   23.45k    80.00%
  Latency Distribution
     50%    2.81ms
     75%    3.10ms
     90%    3.70ms
     99%  850.00us
  108232 requests in 5.00s, 14.65MB read
  Socket errors: connect 2, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  21643.79
Transfer/sec:      2.93MB
`

func TestParseWrk(t *testing.T) {
	var res TCPResult
	if err := parseWrk(wrkOutput, &res); err != nil {
		t.Fatal(err)
	}
	if res.RPS != 21643.79 || res.P50 != 2810*time.Microsecond || res.P99 != 850*time.Microsecond || res.Errors != 10 {
		t.Errorf("parsed %+v", res)
	}
	if err := parseWrk("unable to connect", &res); err == nil {
		t.Error("output without Requests/sec parsed")
	}
}

func TestParseTrafgenSent(t *testing.T) {
	out := "\n  123456 packets outgoing\n  7406360 bytes outgoing\n  1 sec, 2 usec on CPU0 (123456 packets)\n"
	if got := parseTrafgenSent(out); got != 123456 {
		t.Errorf("sent %d, want 123456", got)
	}
	if got := parseTrafgenSent("Flushing TX_RING failed: EAGAIN"); got != 0 {
		t.Errorf("sent %d from an error, want 0", got)
	}
}

func TestParseCoreTimes(t *testing.T) {
	stat := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 10 0 20 60 10 5 5 0 3 0\n"
	got, err := parseCoreTimes(stat, 1)
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal; idle and iowait are not.
	if got.busy != 40 || got.softirq != 5 || got.total != 110 {
		t.Errorf("cpu1 %+v, want busy 40 softirq 5 total 110", got)
	}
	if _, err := parseCoreTimes(stat, 7); err == nil {
		t.Error("missing cpu7 parsed")
	}
}

func TestParseTaskTicks(t *testing.T) {
	stat := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1000 0 0"
	got, err := parseTaskTicks(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != (taskTicks{user: 250, sys: 75}) {
		t.Errorf("ticks %+v, want user 250 sys 75", got)
	}
}

func TestBusyShares(t *testing.T) {
	start := time.Unix(100, 0)
	a := cpuSample{at: start, core: coreTimes{busy: 100, softirq: 10, total: 400}, proc: taskTicks{user: 40, sys: 10}, napi: 500}
	b := cpuSample{at: start.Add(2 * time.Second), core: coreTimes{busy: 250, softirq: 30, total: 600},
		proc: taskTicks{user: 100, sys: 50}, napi: 620}
	if got := coreBusy(a, b); got != 75 {
		t.Errorf("core busy %.1f, want 75", got)
	}
	if got := coreSoftirq(a, b); got != 10 {
		t.Errorf("core softirq %.1f, want 10", got)
	}
	if got := processBusy(a, b); got != 50 {
		t.Errorf("process busy %.1f, want 50 (100 ticks in 2 s)", got)
	}
	if u, s := processUser(a, b), processSys(a, b); u != 30 || s != 20 {
		t.Errorf("process user %.1f sys %.1f, want 30 and 20", u, s)
	}
	if got := napiBusy(a, b); got != 60 {
		t.Errorf("NAPI %.1f, want 60 (120 ticks in 2 s)", got)
	}
	b.napiLost = true
	if got := napiBusy(a, b); !math.IsNaN(got) {
		t.Errorf("NAPI %.1f with a thread gone, want NaN", got)
	}
}

func TestTrafgenConfig(t *testing.T) {
	tr := testTraffic(1000)
	conf, err := trafgenConfig(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"da=02:00:00:00:00:02", "sa=02:00:00:00:00:01", "sa=198.18.1.11", "da=198.18.0.10",
		"sp=dinc(1024, 2023)", "dp=9", "fill(0x00, 18)"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	one, _ := trafgenConfig(testTraffic(1))
	if !strings.Contains(one, "sp=1024,") {
		t.Errorf("one flow should use a fixed port:\n%s", one)
	}
	if _, err := trafgenConfig(testTraffic(0)); err == nil {
		t.Error("zero flows accepted")
	}
}

func TestMedian(t *testing.T) {
	id := func(v float64) float64 { return v }
	if got := median([]float64{3, 1, 2}, id); got != 2 {
		t.Errorf("median %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}, id); got != 2.5 {
		t.Errorf("median %v, want 2.5", got)
	}
}
