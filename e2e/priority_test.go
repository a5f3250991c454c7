package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fastlvs/testbed"
)

// threadSched is one thread's scheduling as /proc/<pid>/task/<tid>/stat
// shows it.
type threadSched struct{ nice, rtPriority, policy int }

// threadScheds reads the scheduling of every thread of process pid.
func threadScheds(tb testing.TB, pid int) []threadSched {
	tb.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		tb.Fatalf("list threads of %d: %v", pid, err)
	}
	var out []threadSched
	for _, path := range stats {
		text, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended
		}
		// Fields after the command name in parentheses start at field 3
		// (state); nice is field 19, rt_priority 40, policy 41 (proc(5)).
		fields := strings.Fields(string(text[strings.LastIndexByte(string(text), ')')+1:]))
		number := func(field int) int {
			n, err := strconv.Atoi(fields[field-3])
			if err != nil {
				tb.Fatalf("%s field %d: %v", path, field, err)
			}
			return n
		}
		out = append(out, threadSched{nice: number(19), rtPriority: number(40), policy: number(41)})
	}
	return out
}

// countThreads counts the threads with exactly the scheduling want.
func countThreads(scheds []threadSched, want threadSched) int {
	n := 0
	for _, s := range scheds {
		if s == want {
			n++
		}
	}
	return n
}

// TestWorkerPriority starts a two-worker NAT director under each
// worker_priority policy, checks in /proc that exactly the two worker
// threads got it (the control plane's threads keep the normal policy), and
// that TCP traffic still flows through it.
func TestWorkerPriority(t *testing.T) {
	bed := testbed.ForTest(t, "ltprio")
	topo, err := testbed.BuildTopology(bed, testbed.TopologyOptions{Mode: testbed.ModeNAT, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(80, 7); err != nil {
		t.Fatal(err)
	}
	const schedFIFO = 1
	for _, test := range []struct {
		priority string
		worker   threadSched
	}{
		{"fifo:10", threadSched{nice: 0, rtPriority: 10, policy: schedFIFO}},
		{"nice:-7", threadSched{nice: -7}},
	} {
		t.Run(test.priority, func(t *testing.T) {
			d := startDirector(t, topo, "worker_priority: "+test.priority+"\n"+natConfig(real(1, 1), real(2, 1)))
			defer d.stop()
			rs := drive(t, topo, "tcp", "198.18.0.10", 80, 200)
			checkWeightShares(t, rs, map[string]int{"r1": 1, "r2": 1}, 10)
			scheds := threadScheds(t, d.process.PID())
			if n := countThreads(scheds, test.worker); n != 2 {
				t.Errorf("%d threads run as %+v, want the 2 workers; all: %+v", n, test.worker, scheds)
			}
			if n := countThreads(scheds, threadSched{}); n == 0 {
				t.Errorf("no thread left at the normal policy for the control plane: %+v", scheds)
			}
			if strings.Contains(d.output.String(), "worker runs at normal priority") ||
				strings.Contains(d.output.String(), "demoted") {
				t.Errorf("a worker did not keep its priority:\n%s", d.output)
			}
		})
	}
}
