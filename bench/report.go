package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files the report writes into its directory.
const (
	ReportFile       = "latest.md"
	PlotByMethodFile = "pps_by_method.png"
	PlotByFlowsFile  = "pps_vs_flows.png"
	PlotTCPFile      = "tcp_rps.png"
)

// WriteReport writes latest.md and the plots into dir.
func WriteReport(rep *Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make report dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), []byte(rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := plotByMethod(rep).save(filepath.Join(dir, PlotByMethodFile)); err != nil {
		return err
	}
	if err := plotByFlows(rep).save(filepath.Join(dir, PlotByFlowsFile)); err != nil {
		return err
	}
	if len(rep.TCP) > 0 {
		if err := plotTCP(rep).save(filepath.Join(dir, PlotTCPFile)); err != nil {
			return err
		}
	}
	return nil
}

// peers lists the non-fastlvs forwarders in the order they ran.
func (rep *Report) peers() []string {
	var names []string
	for _, r := range rep.Packets {
		if !r.Fastlvs && !slices.Contains(names, r.Method) {
			names = append(names, r.Method)
		}
	}
	return names
}

// ratioPeers are the peers fastlvs gets a ratio column against: each
// peer, but of the C forwarder only its poll-when-empty variant (the
// ceiling; the other idle policies are there to show what idling costs).
func (rep *Report) ratioPeers() []string {
	var names []string
	for _, p := range rep.peers() {
		if p == "cforward" || !strings.HasPrefix(p, "cforward") {
			names = append(names, p)
		}
	}
	return names
}

// peerHeader titles a ratio column.
func peerHeader(peer string) string {
	if peer == "cforward" {
		return "vs C forwarder"
	}
	return "vs " + peer
}

// methods lists every forwarder, with its priority unless normal, in the
// order it ran.
func (rep *Report) methods() []string {
	var names []string
	for _, r := range rep.Packets {
		if !slices.Contains(names, r.Label()) {
			names = append(names, r.Label())
		}
	}
	return names
}

func (rep *Report) flows() []int {
	var flows []int
	for _, r := range rep.Packets {
		if !slices.Contains(flows, r.Flows) {
			flows = append(flows, r.Flows)
		}
	}
	slices.Sort(flows)
	return flows
}

// lookup finds the result labelled label (see Result.Label) at flows.
func (rep *Report) lookup(label string, flows int) (Result, bool) {
	for _, r := range rep.Packets {
		if r.Label() == label && r.Flows == flows {
			return r, true
		}
	}
	return Result{}, false
}

// lookupPeer finds peer's result at flows under priority, or its only
// result when it takes no priority.
func (rep *Report) lookupPeer(peer string, flows int, priority string) (Result, bool) {
	for _, r := range rep.Packets {
		if r.Method == peer && r.Flows == flows && (r.Priority == priority || r.Priority == "") {
			return r, true
		}
	}
	return Result{}, false
}

// Ratio is fastlvs's pps over the peer's at the same flow count and
// priority: the median of the rounds' ratios where both carry rounds (each
// pair ran in the same round, so in much the same phase of a shared host),
// else the ratio of the medians. ok is false when either was not measured.
func (rep *Report) Ratio(r Result, peer string) (float64, bool) {
	p, found := rep.lookupPeer(peer, r.Flows, r.Priority)
	if !found || !p.Measured() || !r.Measured() || p.PPS == 0 {
		return 0, false
	}
	if m := pairedRatio(r.RoundPPS, p.RoundPPS); !math.IsNaN(m) {
		return m, true
	}
	return r.PPS / p.PPS, true
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	o := rep.Options
	m := rep.Machine
	kind := "full run"
	full := DefaultOptions()
	switch {
	case o.Smoke:
		kind = "smoke run (CI: a second per path; not a measurement)"
	case !slices.Equal(o.Forwarders, full.Forwarders) || !slices.Equal(o.Flows, full.Flows) || o.Repeats < full.Repeats:
		kind = "partial run: chosen targets, flow counts or repeats"
	}
	fmt.Fprintf(&b, "# fastlvs benchmark\n\n")
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s, %s\n", m.CPU, m.Cores, m.Kernel, m.Go)
	fmt.Fprintf(&b, "- command: `%s` (%s)\n", o.Command, kind)
	fmt.Fprintf(&b, "- started %s, took %s; load average at start %s, at end %s (other work on the machine skews every number)\n",
		rep.Started.UTC().Format(time.RFC3339), rep.Elapsed.Round(time.Second), rep.LoadStart, rep.LoadEnd)
	fmt.Fprintf(&b, "- topology: generator ns → director ns → sink ns over two veth pairs; TSO off, GRO on, threaded NAPI; "+
		"generator and sink NAPI on core %d (sink SCHED_FIFO), director NAPI and forwarder on core %d\n", o.GenCPU, o.DirCPU)
	fmt.Fprintf(&b, "- packet rate: 64-byte UDP, %s warm-up, %s measured, median of %d rounds (each round starts every "+
		"forwarder once, priority by priority, and sends each flow count once); pps = frames counted by an XDP drop "+
		"program on the sink's port / time. Director core busy %% is from /proc/stat (user+system+softirq: includes the "+
		"kernel's share of every path); process %% is utime+stime of the forwarder process.\n",
		o.Warmup, o.Duration, o.Repeats)
	b.WriteString("- cforward is the project's minimal C AF_XDP L2 forwarder on libxdp (bench/cforward): the same ports, copy " +
		"mode, rings, batch and core as fastlvs, nothing done to a frame but its Ethernet addresses; it polls as soon as " +
		"its RX rings are empty, \"spin\" after 256 empty passes (fastlvs's policy before it yielded to NAPI), \"busy\" never.\n")
	fmt.Fprintf(&b, "- priorities: %s, each set through fastlvs's worker_priority and cforward's -p, and checked on the "+
		"packet thread before a run; a method's name carries its priority unless normal. Under fifo, fastlvs's worker "+
		"also naps 50 µs after 2 ms without blocking; cforward only blocks when its RX rings are empty.\n\n",
		strings.Join(o.Priorities, ", "))

	if len(rep.Generators) > 0 {
		b.WriteString("## Generators\n\nEach generator on core " + strconv.Itoa(o.GenCPU) +
			" into an XDP drop program on the director's port (nothing forwards, so the generator is the limit).\n\n")
		b.WriteString("| generator | flows | pps received | pps offered |\n|---|---:|---:|---:|\n")
		for _, r := range rep.Generators {
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", r.Method, r.Flows, ppsCell(r), offeredCell(r))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Generator used for the forwarder runs: **%s**", rep.Generator)
	if len(rep.Generators) > 0 {
		b.WriteString(" (the faster above)")
	}
	b.WriteString(".\n\n")

	peers := rep.ratioPeers()
	b.WriteString("## Packet rate through one director core\n\n")
	b.WriteString("| method | flows | pps at sink | pps offered | director core busy % | process CPU % |")
	for _, p := range peers {
		b.WriteString(" " + peerHeader(p) + " |")
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|" + strings.Repeat("---:|", len(peers)) + "\n")
	for _, r := range rep.Packets {
		name := r.Label()
		if r.Fastlvs {
			name = "**" + name + "**"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |", name, r.Flows, ppsCell(r), offeredCell(r), pctCell(r, r.CoreBusy), pctCell(r, r.ProcBusy))
		for _, p := range peers {
			cell := "—"
			if ratio, ok := rep.Ratio(r, p); ok && r.Fastlvs {
				cell = fmt.Sprintf("%.2f×", ratio)
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nRatios are fastlvs's pps over the peer's at the same flow count (and, for the C forwarder, the same " +
		"priority), measured in this run on the same ports and cores: the median of the rounds' ratios. " +
		"‡: the sink counted at least 97% of what the generator offered, so the generator, not the path, set the rate; " +
		"a ratio involving such a row compares how fast the generator sent beside each path.\n\n")
	rep.writeRoundRatios(&b)
	rep.writeCPUSplit(&b)

	if len(rep.TCP) > 0 {
		rep.writeTCP(&b)
	}
	b.WriteString("## Plots\n\n")
	fmt.Fprintf(&b, "![pps per method](%s)\n\n![pps vs flows](%s)\n", PlotByMethodFile, PlotByFlowsFile)
	if len(rep.TCP) > 0 {
		fmt.Fprintf(&b, "\n![TCP requests/s](%s)\n", PlotTCPFile)
	}
	return b.String()
}

// writeRoundRatios is fastlvs against the C forwarder round by round: how
// far one round's ratio may stray from the median.
func (rep *Report) writeRoundRatios(b *strings.Builder) {
	var rows []roundRow
	for _, r := range rep.Packets {
		p, found := rep.lookupPeer("cforward", r.Flows, r.Priority)
		if ratios := pairRatios(r.RoundPPS, p.RoundPPS); r.Fastlvs && found && len(ratios) >= 2 {
			rows = append(rows, roundRow{lead: []string{r.Label(), strconv.Itoa(r.Flows)}, ratios: ratios})
		}
	}
	writeRoundTable(b, "fastlvs over the C forwarder, round by round", "| method | flows |", "|---|---:|", rows)
}

// roundRow is a row of a round-by-round table: its leading cells, then one
// ratio per round (NaN: that round did not measure both).
type roundRow struct {
	lead   []string
	ratios []float64
}

// writeRoundTable writes rows under title, leading columns first (head and
// align are their header and alignment cells), then a column per round.
func writeRoundTable(b *strings.Builder, title, head, align string, rows []roundRow) {
	if len(rows) == 0 {
		return
	}
	rounds := 0
	for _, r := range rows {
		rounds = max(rounds, len(r.ratios))
	}
	b.WriteString("### " + title + "\n\n" + head)
	for i := range rounds {
		fmt.Fprintf(b, " round %d |", i+1)
	}
	b.WriteString("\n" + align + strings.Repeat("---:|", rounds) + "\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r.lead, " | ") + " |")
		for _, v := range r.ratios {
			if math.IsNaN(v) {
				b.WriteString(" — |")
			} else {
				fmt.Fprintf(b, " %.2f× |", v)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// writeCPUSplit is the second packet-rate table: where the director's CPU
// went in each run.
func (rep *Report) writeCPUSplit(b *strings.Builder) {
	fmt.Fprintf(b, "## Where the director's CPU went\n\nIn %% of one core over the measured window: the forwarder "+
		"process's user and system time (/proc/<pid>/stat), the director ports' NAPI kthreads (napi/<port>-<id>, "+
		"where copy mode copies every frame), the director core's softirq share and its busy share. Process ns per "+
		"packet is the process's CPU time over the packets that reached the sink: what one forwarded packet costs "+
		"the forwarder itself, less skewed by other work on the core than the rate. Other is what is left of the "+
		"core's busy share: work that is not this run's (at most; a process thread on another core lowers it). "+
		"A run with much of it measured a shared core.\n\n")
	b.WriteString("| method | flows | process user % | process sys % | NAPI threads % | core softirq % | core busy % | other % | process ns per packet |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Packets {
		if !r.Measured() {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Label(), r.Flows, pctCell(r, r.CPU.ProcUser),
			pctCell(r, r.CPU.ProcSys), pctCell(r, r.CPU.NAPI), pctCell(r, r.CPU.CoreSoftirq), pctCell(r, r.CoreBusy),
			pctCell(r, r.otherWork()), nsPerPacketCell(r))
	}
	b.WriteString("\n")
}

// cell makes free text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " / ")
	return strings.ReplaceAll(s, "|", "\\|")
}

func ppsCell(r Result) string {
	if !r.Measured() {
		return cell(r.Note)
	}
	return fmt.Sprintf("%.3f M", r.PPS/1e6)
}

func offeredCell(r Result) string {
	if !r.Measured() {
		return ""
	}
	if generatorBound(r) {
		return fmt.Sprintf("%.3f M ‡", r.SentPPS/1e6)
	}
	return fmt.Sprintf("%.3f M", r.SentPPS/1e6)
}

// generatorBound says the sink counted nearly all the generator offered:
// the generator, not the path, set the rate.
func generatorBound(r Result) bool {
	return r.Measured() && r.SentPPS > 0 && r.PPS >= generatorBoundShare*r.SentPPS
}

const generatorBoundShare = 0.97

func pctCell(r Result, v float64) string {
	if !r.Measured() || math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

// otherWork is the director core's busy share that neither the forwarder
// process, the NAPI threads nor softirq account for, never below zero.
func (r Result) otherWork() float64 {
	ours := r.CPU.NAPI + r.CPU.CoreSoftirq
	if !math.IsNaN(r.ProcBusy) {
		ours += r.ProcBusy
	}
	return max(0, r.CoreBusy-ours)
}

// nsPerPacketCell is the forwarder process's CPU time per packet at the sink.
func nsPerPacketCell(r Result) string {
	if !r.Measured() || math.IsNaN(r.ProcBusy) || r.PPS == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", r.ProcBusy/100*1e9/r.PPS)
}

func fmtLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}

func mpps(r Result) float64 {
	if !r.Measured() {
		return math.NaN()
	}
	return r.PPS / 1e6
}

// plotByMethod is one bar per forwarder at the lowest flow count.
func plotByMethod(rep *Report) canvas {
	flows := rep.flows()
	var bars []bar
	title := "PPS AT SINK PER METHOD"
	if len(flows) > 0 {
		title = fmt.Sprintf("PPS AT SINK PER METHOD, %d FLOW", flows[0])
		if flows[0] != 1 {
			title += "S"
		}
		for _, method := range rep.methods() {
			r, _ := rep.lookup(method, flows[0])
			bars = append(bars, bar{Label: method, Value: mpps(r), Highlight: r.Fastlvs})
		}
	}
	return barChart(title, "MPPS", bars)
}

// plotByFlows is one line per forwarder across the flow counts.
func plotByFlows(rep *Report) canvas {
	flows := rep.flows()
	var xs []string
	for _, f := range flows {
		xs = append(xs, strconv.Itoa(f))
	}
	var lines []series
	for _, method := range rep.methods() {
		s := series{Name: method}
		for _, f := range flows {
			r, found := rep.lookup(method, f)
			v := math.NaN()
			if found {
				v = mpps(r)
			}
			s.Values = append(s.Values, v)
		}
		lines = append(lines, s)
	}
	return lineChart("PPS AT SINK VS FLOWS", "MPPS", "FLOWS", xs, lines)
}

// plotTCP is one bar per target and connection mode, in thousands of requests/s.
func plotTCP(rep *Report) canvas {
	var bars []bar
	for _, r := range rep.TCP {
		label := r.Target + " KA"
		if r.NewConnection {
			label = r.Target + " NEW"
		}
		v := math.NaN()
		if r.Note == "" {
			v = r.RPS / 1e3
		}
		bars = append(bars, bar{Label: label, Value: v, Highlight: strings.HasPrefix(r.Target, "fastlvs")})
	}
	return barChart("TCP REQUESTS/S (KA = KEEP-ALIVE, NEW = CONNECTION PER REQUEST)", "K REQ/S", bars)
}
