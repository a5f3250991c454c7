package bench

import (
	"fmt"
	"math"
	"strings"
)

// directTarget is the TCP comparison's baseline: the sink's own address,
// routed by the director's kernel.
const directTarget = "direct"

// TCPRatio is r's requests/s and p99 over direct's in the same mode: the
// medians of the rounds' ratios where both carry rounds (each pair ran in one
// round), else the ratios of the medians. ok is false when either was not
// measured or r is direct.
func (rep *Report) TCPRatio(r TCPResult) (rps, p99 float64, ok bool) {
	d, found := rep.tcpDirect(r.NewConnection)
	if !found || r.Target == directTarget || r.Note != "" || d.RPS == 0 || d.P99 == 0 {
		return 0, 0, false
	}
	rps, p99 = pairedRatio(r.RoundRPS, d.RoundRPS), pairedRatio(r.RoundP99, d.RoundP99)
	if math.IsNaN(rps) || math.IsNaN(p99) {
		rps, p99 = r.RPS/d.RPS, float64(r.P99)/float64(d.P99)
	}
	return rps, p99, true
}

// tcpDirect finds direct's result in the mode, if measured.
func (rep *Report) tcpDirect(newConn bool) (TCPResult, bool) {
	for _, d := range rep.TCP {
		if d.Target == directTarget && d.NewConnection == newConn && d.Note == "" {
			return d, true
		}
	}
	return TCPResult{}, false
}

// pairedRatio is the median of a[i]/b[i] over the rounds both measured, NaN
// when there are none.
func pairedRatio(a, b []float64) float64 {
	return median(pairRatios(a, b), func(v float64) float64 { return v })
}

// pairRatios is a[i]/b[i] round by round, NaN where either is missing; empty
// unless both have the same rounds.
func pairRatios(a, b []float64) []float64 {
	if len(a) == 0 || len(a) != len(b) {
		return nil
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = math.NaN()
		if !math.IsNaN(a[i]) && !math.IsNaN(b[i]) && b[i] > 0 {
			out[i] = a[i] / b[i]
		}
	}
	return out
}

// writeTCP is the TCP section: each target and mode, its ratios to direct,
// and fastlvs's requests/s ratio round by round.
func (rep *Report) writeTCP(b *strings.Builder) {
	rounds, perRun := rep.Options.tcpRounds()
	fmt.Fprintf(b, "## TCP through the director\n\nwrk on core %d, %d connections, %d interleaved rounds of %s per target and "+
		"mode, HTTP server on the sink; \"direct\" is the sink's own address, routed by the director's kernel. Ratios to "+
		"direct are the medians of the rounds' ratios.\n\n", rep.Options.GenCPU, wrkConnections, rounds, perRun)
	b.WriteString("| target | mode | requests/s | p50 | p99 | errors | requests/s vs direct | p99 vs direct |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.TCP {
		if r.Note != "" {
			fmt.Fprintf(b, "| %s | %s | %s | | | | | |\n", r.Target, r.Mode(), cell(r.Note))
			continue
		}
		rps, p99 := "—", "—"
		if x, y, ok := rep.TCPRatio(r); ok {
			rps, p99 = fmt.Sprintf("%.2f×", x), fmt.Sprintf("%.2f×", y)
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s | %d | %s | %s |\n", r.Target, r.Mode(), r.RPS, fmtLatency(r.P50),
			fmtLatency(r.P99), r.Errors, rps, p99)
	}
	b.WriteString("\n")
	var rows []roundRow
	for _, r := range rep.TCP {
		d, found := rep.tcpDirect(r.NewConnection)
		if ratios := pairRatios(r.RoundRPS, d.RoundRPS); strings.HasPrefix(r.Target, "fastlvs") && found && len(ratios) >= 2 {
			rows = append(rows, roundRow{lead: []string{r.Target, r.Mode()}, ratios: ratios})
		}
	}
	writeRoundTable(b, "fastlvs over direct, requests/s round by round", "| target | mode |", "|---|---|", rows)
}
