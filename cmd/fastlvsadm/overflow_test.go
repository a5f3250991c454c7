package main

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"

	"fastlvs/control/api"
)

// The other site of a service's overflow is listed on a line of its own
// marked "=>", never as a "->" real server, and left out of -S.
func TestListMarksOverflowApart(t *testing.T) {
	s := api.Service{
		Key:         api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80},
		Scheduler:   "rr",
		RealServers: []api.RealServer{{Address: netip.MustParseAddr("198.18.2.11"), Port: 80, Forward: "dr", Weight: 1, ActiveConns: 5}},
		Overflow: &api.Overflow{To: netip.MustParseAddr("198.18.3.2"), High: 1.1, Low: 0.7, Capacity: 4,
			Shedding: true, LoadRatio: 1.25, ShedConns: 3, ActiveConns: 2},
	}
	for _, c := range []struct {
		format int
		want   string
	}{
		{0, "  => overflow to 198.18.3.2: shedding, load 1.25 of capacity 4 (high 1.10, low 0.70), 3 shed, 2 active\n"},
		{fmtRule, ""},
	} {
		var out strings.Builder
		w := bufio.NewWriter(&out)
		printService(w, s, c.format|fmtNumeric)
		w.Flush()
		lines := strings.SplitAfter(out.String(), "\n")
		if n := strings.Count(out.String(), "->"); c.format == 0 && n != 1 {
			t.Errorf("format %d: %d real-server lines, want 1:\n%s", c.format, n, out.String())
		}
		if got := lines[len(lines)-2]; c.want != "" && got != c.want {
			t.Errorf("format %d: last line %q, want %q", c.format, got, c.want)
		}
		if c.want == "" && strings.Contains(out.String(), "overflow") {
			t.Errorf("format %d lists the overflow:\n%s", c.format, out.String())
		}
	}
}
