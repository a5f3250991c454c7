package bench

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLog sends the run's progress lines to the test log.
type testLog struct{ tb testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSmoke runs `fastlvs-bench -smoke` end to end: the harness builds its
// namespaces, forwards through fastlvs, the C forwarder (compiled here) and
// the kernel, runs wrk once and writes the report. It asserts that packets
// reached the sink through each path, that the director's NAPI threads were
// seen working, and that the report and plots exist.
func TestSmoke(t *testing.T) {
	opts := SmokeOptions()
	opts.OutDir = t.TempDir()
	opts.Command = "go test ./bench -run TestSmoke"
	opts.Log = testLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range opts.Forwarders {
		r, ok := rep.lookup(name, 1)
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if !r.Measured() || r.PPS <= 0 {
			t.Errorf("%s: no packets at the sink: %+v", name, r)
		}
		if r.CoreBusy <= 0 || r.CoreBusy > 100.5 {
			t.Errorf("%s: director core busy %.1f%%, want (0, 100]", name, r.CoreBusy)
		}
		if !(r.CPU.NAPI > 0) {
			t.Errorf("%s: director NAPI threads %.1f%%, want > 0", name, r.CPU.NAPI)
		}
	}
	for _, name := range []string{"fastlvs nat", "cforward"} {
		if r, _ := rep.lookup(name, 1); !(r.ProcBusy > 0) || r.ProcBusy != r.CPU.ProcUser+r.CPU.ProcSys {
			t.Errorf("%s process CPU %.1f%% (user %.1f%%, sys %.1f%%), want > 0 and the sum", name, r.ProcBusy, r.CPU.ProcUser, r.CPU.ProcSys)
		}
	}
	if len(rep.TCP) == 0 || rep.TCP[0].Note != "" || rep.TCP[0].RPS <= 0 {
		t.Errorf("TCP through fastlvs nat: %+v", rep.TCP)
	}

	md, err := os.ReadFile(filepath.Join(opts.OutDir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **fastlvs nat** | 1 |", "| kernel route | 1 |", "| cforward | 1 |", "vs C forwarder", "vs kernel route",
		"## Where the director's CPU went", rep.Machine.Kernel} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, name := range []string{PlotByMethodFile, PlotByFlowsFile, PlotTCPFile} {
		f, err := os.Open(filepath.Join(opts.OutDir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
}
