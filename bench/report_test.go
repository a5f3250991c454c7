package bench

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleReport() *Report {
	return &Report{
		Options:   DefaultOptions(),
		Machine:   Machine{CPU: "Test CPU", Cores: 2, Kernel: "Linux 6.18"},
		Generator: "af_xdp",
		Packets: []Result{
			{Method: "fastlvs nat", Fastlvs: true, Flows: 1, Priority: "normal", PPS: 300e3, SentPPS: 600e3, CoreBusy: 100, ProcBusy: 40, Runs: 3},
			{Method: "fastlvs nat", Fastlvs: true, Flows: 1000, Priority: "normal", PPS: 200e3, CoreBusy: 100, ProcBusy: 40, Runs: 3},
			{Method: "kernel route", Flows: 1, PPS: 600e3, CoreBusy: 90, ProcBusy: math.NaN(), Runs: 3,
				CPU: CPUSplit{ProcUser: math.NaN(), ProcSys: math.NaN(), NAPI: 40}},
			{Method: "kernel route", Flows: 1000, PPS: 400e3, CoreBusy: 90, ProcBusy: math.NaN(), Runs: 3},
			{Method: "dpdk-testpmd", Flows: 1, Note: "not measured: dpdk-testpmd not installed\n(second line | pipe)"},
			{Method: "fastlvs nat", Fastlvs: true, Flows: 1, Priority: "fifo:10", PPS: 540e3, ProcBusy: 42, Runs: 3,
				CPU: CPUSplit{ProcUser: 12, ProcSys: 30, NAPI: 55, CoreSoftirq: 1}},
			{Method: "cforward", Flows: 1, Priority: "normal", PPS: 400e3, Runs: 3},
			{Method: "cforward", Flows: 1, Priority: "fifo:10", PPS: 600e3, SentPPS: 610e3, Runs: 3},
			{Method: "cforward spin", Flows: 1, Priority: "normal", PPS: 350e3, Runs: 3},
		},
		TCP: []TCPResult{{Target: "fastlvs nat", RPS: 20000, P50: 2e6, P99: 9e6}, {Target: "haproxy", NewConnection: true, Note: "not measured: x"}},
	}
}

func TestReportRatiosAndCells(t *testing.T) {
	rep := sampleReport()
	if r, ok := rep.Ratio(rep.Packets[0], "kernel route"); !ok || r != 0.5 {
		t.Errorf("ratio %v %v, want 0.5", r, ok)
	}
	if _, ok := rep.Ratio(rep.Packets[0], "dpdk-testpmd"); ok {
		t.Error("ratio against a peer that was not measured")
	}
	// Against the C forwarder under the same priority; the kernel has one.
	if r, ok := rep.Ratio(rep.Packets[0], "cforward"); !ok || r != 0.75 {
		t.Errorf("ratio at normal priority %v %v, want 0.75", r, ok)
	}
	if r, ok := rep.Ratio(rep.Packets[5], "cforward"); !ok || r != 0.9 {
		t.Errorf("ratio at fifo:10 %v %v, want 0.9", r, ok)
	}
	if r, ok := rep.Ratio(rep.Packets[5], "kernel route"); !ok || r != 0.9 {
		t.Errorf("ratio at fifo:10 against the kernel %v %v, want 0.9", r, ok)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| **fastlvs nat** | 1 | 0.300 M |", "| 0.50× | — | 0.75× |", "| **fastlvs nat** | 1000 | 0.200 M |", "| 0.50× |",
		"| vs kernel route | vs dpdk-testpmd | vs C forwarder |\n", "| **fastlvs nat (fifo:10)** | 1 | 0.540 M |", "| 0.90× |\n",
		"| fastlvs nat (fifo:10) | 1 | 12 | 30 | 55 | 1 | 0 | 0 | 778 |", "| kernel route | 1 | — | — | 40 | 0 | 90 | 50 | — |", "| cforward spin | 1 | 0.350 M |",
		"not measured: dpdk-testpmd not installed / (second line \\| pipe)", "Test CPU, 2 cores, Linux 6.18",
		"| fastlvs nat | keep-alive | 20000 | 2.00 ms | 9.00 ms | 0 |",
		"| cforward (fifo:10) | 1 | 0.600 M | 0.610 M ‡ |",
		"| **fastlvs nat** | 1 | 0.300 M | 0.600 M | 100 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "(second") {
			t.Errorf("a note broke a table row: %q", line)
		}
	}
}

// TestRatioPairsRounds: with rounds on both sides the ratio is the median
// of each round's ratio, not the ratio of the medians, and a failed round
// pairs with nothing.
func TestRatioPairsRounds(t *testing.T) {
	nan := math.NaN()
	rep := &Report{Options: DefaultOptions(), Packets: []Result{
		{Method: "fastlvs nat", Fastlvs: true, Flows: 1, Priority: "normal", PPS: 320, Runs: 3, RoundPPS: []float64{300, 600, 320, 999}},
		{Method: "cforward", Flows: 1, Priority: "normal", PPS: 400, Runs: 3, RoundPPS: []float64{400, 700, 330, nan}},
	}}
	// Round ratios 0.75, 0.857, 0.970 (the fourth unpaired): median 0.857; the medians' ratio would say 0.8.
	if r, ok := rep.Ratio(rep.Packets[0], "cforward"); !ok || math.Abs(r-600.0/700) > 1e-9 {
		t.Errorf("ratio %v %v, want %v", r, ok, 600.0/700)
	}
	md := rep.Markdown()
	want := "| fastlvs nat | 1 | 0.75× | 0.86× | 0.97× | — |\n"
	if !strings.Contains(md, want) || !strings.Contains(md, "| method | flows | round 1 | round 2 | round 3 | round 4 |") {
		t.Errorf("markdown lacks the round-by-round row %q:\n%s", want, md)
	}
	// Results without rounds (or with a different count) fall back to the medians.
	rep.Packets[1].RoundPPS = nil
	if r, ok := rep.Ratio(rep.Packets[0], "cforward"); !ok || r != 0.8 {
		t.Errorf("ratio without rounds %v %v, want 0.8", r, ok)
	}
}

// TestTCPRatioPairsRounds: TCP ratios to direct pair the rounds too, and
// the report shows them with fastlvs's rounds.
func TestTCPRatioPairsRounds(t *testing.T) {
	nan := math.NaN()
	rep := &Report{Options: DefaultOptions(), TCP: []TCPResult{
		{Target: "direct", RPS: 1000, P50: 4e6, P99: 10e6, RoundRPS: []float64{1000, 2000, 900}, RoundP99: []float64{10e6, 5e6, nan}},
		{Target: "fastlvs nat", RPS: 950, P50: 5e6, P99: 12e6, RoundRPS: []float64{950, 1900, 400}, RoundP99: []float64{12e6, 6e6, 30e6}},
		{Target: "fastlvs nat", NewConnection: true, RPS: 100, P99: 1e6},
	}}
	rps, p99, ok := rep.TCPRatio(rep.TCP[1])
	// Rounds 0.95, 0.95, 0.44 (median 0.95; the medians' ratio would be 0.95 too, so the p99 tells): 1.2, 1.2, unpaired.
	if !ok || math.Abs(rps-0.95) > 1e-9 || math.Abs(p99-1.2) > 1e-9 {
		t.Errorf("ratios %v %v %v, want 0.95 and 1.2", rps, p99, ok)
	}
	if _, _, ok := rep.TCPRatio(rep.TCP[0]); ok {
		t.Error("direct has a ratio to itself")
	}
	if _, _, ok := rep.TCPRatio(rep.TCP[2]); ok {
		t.Error("a ratio without a direct run in that mode")
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| fastlvs nat | keep-alive | 950 | 5.00 ms | 12.00 ms | 0 | 0.95× | 1.20× |",
		"| fastlvs nat | keep-alive | 0.95× | 0.95× | 0.44× |",
		"6 interleaved rounds of 1s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	if err := WriteReport(sampleReport(), dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ReportFile, PlotByMethodFile, PlotByFlowsFile, PlotTCPFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBarChartDrawsBars(t *testing.T) {
	c := barChart("T", "Y", []bar{{Label: "a", Value: 1, Highlight: true}, {Label: "b", Value: 0.5}, {Label: "c", Value: math.NaN()}})
	count := func(col color.RGBA) int {
		n := 0
		b := c.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if c.RGBAAt(x, y) == col {
					n++
				}
			}
		}
		return n
	}
	hi, peer := count(fastlvsColor), count(peerColor)
	if hi == 0 || peer == 0 {
		t.Fatalf("bars not drawn: %d highlighted, %d peer pixels", hi, peer)
	}
	// Same width, the highlighted bar twice as tall.
	if ratio := float64(hi) / float64(peer); ratio < 1.9 || ratio > 2.1 {
		t.Errorf("bar areas %d and %d, want 2:1", hi, peer)
	}
}

func TestNiceMax(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0.83, 1}, {1.2, 2}, {3, 5}, {0.031, 0.05}, {0, 1}, {7, 10}} {
		if got := niceMax(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("niceMax(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
