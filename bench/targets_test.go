package bench

import (
	"slices"
	"strings"
	"testing"

	"fastlvs/control/config"
)

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("fastlvs-nat, cforward,cforward spin,dpdk-testpmd,fastlvs-nat")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"fastlvs nat", "cforward", "cforward spin", "dpdk-testpmd"}; !slices.Equal(got, want) {
		t.Errorf("targets %q, want %q", got, want)
	}
	if _, err := ParseTargets("fastlvs-nat,quic"); err == nil || !strings.Contains(err.Error(), `"quic"`) {
		t.Errorf("unknown target: %v", err)
	}
}

func TestParseFlowsAndPriorities(t *testing.T) {
	if got, err := ParseFlows("1, 1000,60000"); err != nil || !slices.Equal(got, []int{1, 1000, 60000}) {
		t.Errorf("flows %v %v", got, err)
	}
	for _, bad := range []string{"0", "1,x", "70000", ""} {
		if _, err := ParseFlows(bad); err == nil {
			t.Errorf("flows %q accepted", bad)
		}
	}
	if got, err := ParsePriorities("normal, nice:-20,fifo:10"); err != nil || !slices.Equal(got, []string{"normal", "nice:-20", "fifo:10"}) {
		t.Errorf("priorities %v %v", got, err)
	}
	for _, bad := range []string{"fifo:0", "fifo:100", "nice:20", "nice", "rr:5", "fifo:x", ""} {
		if _, err := ParsePriorities(bad); err == nil {
			t.Errorf("priority %q accepted", bad)
		}
	}
}

// TestPlan: forwarders that take a priority run at each, priority by
// priority (the default run: after the first only the listed ones), the
// kernel's paths once, last.
func TestPlan(t *testing.T) {
	o := Options{Forwarders: []string{"fastlvs nat", "fastlvs tun", "cforward", "kernel route"},
		Priorities: []string{"normal", "fifo:10"}, PriorityForwarders: []string{"fastlvs nat", "cforward"}}
	want := []plannedRun{{"fastlvs nat", "normal"}, {"fastlvs tun", "normal"}, {"cforward", "normal"},
		{"fastlvs nat", "fifo:10"}, {"cforward", "fifo:10"}, {"kernel route", ""}}
	if got := o.plan(); !slices.Equal(got, want) {
		t.Errorf("plan %v, want %v", got, want)
	}
	o.PriorityForwarders = nil
	if got := o.plan(); !slices.Contains(got, plannedRun{"fastlvs tun", "fifo:10"}) || len(got) != 7 {
		t.Errorf("plan without a priority list %v, want every fastlvs and cforward run at both", got)
	}
	if err := DefaultOptions().validate(); err != nil {
		t.Errorf("default options: %v", err)
	}
	if err := (Options{Flows: []int{1}, Forwarders: []string{"cforward"}, Priorities: []string{"fifo:0"}}).validate(); err == nil {
		t.Error("fifo:0 validated")
	}
}

// TestFastlvsConfigPriority: the bench asks fastlvs for the worker's
// priority in its configuration, and fastlvs takes that configuration for
// every method and priority.
func TestFastlvsConfigPriority(t *testing.T) {
	topo := &Topology{DirIn: "d0", DirOut: "d1", DirCPU: 1}
	for _, forward := range []string{"dr", "nat", "fullnat", "tun"} {
		for _, priority := range []string{"normal", "nice:-20", "fifo:10"} {
			cfg, err := config.Parse([]byte(fastlvsConfig(topo, forward, priority, "/tmp/api.sock")))
			if err != nil {
				t.Errorf("%s at %s: fastlvs rejects the bench's config: %v", forward, priority, err)
				continue
			}
			if cfg.WorkerPriority != priority {
				t.Errorf("%s at %s: worker_priority %q", forward, priority, cfg.WorkerPriority)
			}
		}
	}
	if strings.Contains(fastlvsConfig(topo, "nat", "", "/tmp/api.sock"), "worker_priority") {
		t.Error("worker_priority written without a priority")
	}
}

func TestParseThreadSched(t *testing.T) {
	// A SCHED_FIFO 10 thread (fields 19 nice 0, 40 rt_priority 10, 41 policy 1).
	fifo := "77 (fastlvs worker) R 1 77 77 0 -1 4194560 0 0 0 0 5 6 0 0 -11 0 30 0 100 0 0 " +
		"18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 10 1 0 0 0 0 0 0 0 0 0 0 0"
	got, err := parseThreadSched(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if got != (threadSched{nice: 0, rtPriority: 10, policy: 1}) {
		t.Errorf("sched %+v, want fifo 10", got)
	}
	fifo10, _ := parsePriority("fifo:10")
	fifo20, _ := parsePriority("fifo:20")
	normal, _ := parsePriority("normal")
	if !got.runsUnder(fifo10) || got.runsUnder(fifo20) || got.runsUnder(normal) {
		t.Error("fifo 10 thread matched the wrong priorities")
	}
	niced := threadSched{nice: -20}
	if nice, _ := parsePriority("nice:-20"); !niced.runsUnder(nice) || niced.runsUnder(normal) {
		t.Error("nice -20 thread matched the wrong priorities")
	}
	if _, err := parseThreadSched("77 (x) R 1 2 3"); err == nil {
		t.Error("short stat parsed")
	}
}
