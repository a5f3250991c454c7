package grafana

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"fastlvs/control/metrics"
)

// dashboard is the part of Grafana's model the checks read.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

func load(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		t.Fatalf("parse fastlvs.json: %v", err)
	}
	return d
}

// allPanels flattens rows, collapsed or not, in layout order.
func allPanels(d dashboard) []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

var (
	// Parts of PromQL that are not metric names: strings, label matchers,
	// range and subquery selectors, grouping clauses, Grafana variables.
	quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	matchers = regexp.MustCompile(`\{[^}]*\}`)
	ranges   = regexp.MustCompile(`\[[^\]]*\]`)
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	variable = regexp.MustCompile(`\$\{?\w+\}?`)
	// token is an identifier or a number (numbers are skipped: 0.99, 1e3).
	token = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?|[0-9][0-9A-Za-z_.]*`)
)

var keywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true, "atan2": true,
}

// metricNames returns the metric names a PromQL expression selects:
// identifiers that are neither functions (followed by "("), keywords,
// label names nor numbers.
func metricNames(expr string) []string {
	expr = quoted.ReplaceAllString(expr, `""`)
	expr = matchers.ReplaceAllString(expr, " ")
	expr = ranges.ReplaceAllString(expr, " ")
	expr = grouping.ReplaceAllString(expr, " ")
	expr = variable.ReplaceAllString(expr, " ")
	var names []string
	for _, tok := range token.FindAllString(expr, -1) {
		if tok[0] >= '0' && tok[0] <= '9' || strings.HasSuffix(tok, "(") || keywords[strings.ToLower(tok)] {
			continue
		}
		names = append(names, tok)
	}
	return names
}

func TestMetricNamesExtraction(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`sum by (worker, cpu) (rate(fastlvs_worker_rx_packets_total{instance=~"$instance"}[$__rate_interval]))`, []string{"fastlvs_worker_rx_packets_total"}},
		{`histogram_quantile(0.99, sum by (worker, le) (rate(a_bucket{x="y{"}[5m])))`, []string{"a_bucket"}},
		{`a / on (worker) group_left (cpu) b > bool 0`, []string{"a", "b"}},
		{`8 * sum without (iface) (rate(x_total[1m] offset 5m)) or vector(0)`, []string{"x_total"}},
		{`max_over_time(up[5m:1m]) unless nonexistent_metric`, []string{"up", "nonexistent_metric"}},
		{`label_values(fastlvs_build_info, instance)`, []string{"fastlvs_build_info", "instance"}},
	}
	for _, c := range cases {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// Every query of every panel names only series fastlvs exports, so no panel
// stays empty because of a renamed or misspelled metric.
func TestEveryQueryUsesExportedMetrics(t *testing.T) {
	exported, err := metrics.ExportedNames()
	if err != nil {
		t.Fatal(err)
	}
	queries := 0
	for _, p := range allPanels(load(t)) {
		for _, target := range p.Targets {
			queries++
			names := metricNames(target.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q selects no metric", p.Title, target.Expr)
			}
			for _, name := range names {
				if !slices.Contains(exported, name) {
					t.Errorf("panel %q: %s is not exported by fastlvs (query %s)", p.Title, name, target.Expr)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries found: the dashboard did not parse as expected", queries)
	}
}

// Template variables list their values from fastlvs series too.
func TestVariablesUseExportedMetrics(t *testing.T) {
	exported, err := metrics.ExportedNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range load(t).Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query is not {query: ...}: %v", v.Name, err)
		}
		inner, ok := strings.CutPrefix(q.Query, "label_values(")
		if !ok {
			t.Fatalf("variable %s: %q is not label_values(metric, label)", v.Name, q.Query)
		}
		names := metricNames(inner[:strings.LastIndexByte(inner, ',')])
		if len(names) != 1 || !slices.Contains(exported, names[0]) {
			t.Errorf("variable %s: %v not an exported metric", v.Name, names)
		}
	}
}

// The layout the issue asks for: the first row is per-core packet rates
// (rx, tx and drops per worker), then services, real servers, connection
// table and health, in that order.
func TestLayout(t *testing.T) {
	d := load(t)
	var rows []string
	firstRowExprs := ""
	ids := map[int]bool{}
	lastY := -1
	for _, p := range allPanels(d) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.Y < lastY {
			t.Errorf("panel %q at y=%d comes after y=%d: panels must be listed in layout order", p.Title, p.GridPos.Y, lastY)
		}
		lastY = p.GridPos.Y
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos x=%d w=%d outside the 24 columns", p.Title, p.GridPos.X, p.GridPos.W)
		}
		if p.Type == "row" {
			rows = append(rows, strings.ToLower(p.Title))
			continue
		}
		if len(rows) == 1 {
			for _, target := range p.Targets {
				firstRowExprs += target.Expr + "\n"
			}
		}
	}
	wantRows := []string{"per core", "services", "real servers", "connection table", "health"}
	if len(rows) != len(wantRows) {
		t.Fatalf("rows %q, want %d starting with %q", rows, len(wantRows), wantRows)
	}
	for i, want := range wantRows {
		if !strings.HasPrefix(rows[i], want) {
			t.Errorf("row %d is %q, want it to start with %q", i, rows[i], want)
		}
	}
	for _, name := range []string{"fastlvs_worker_rx_packets_total", "fastlvs_worker_tx_packets_total", "fastlvs_worker_dropped_packets_total"} {
		if !strings.Contains(firstRowExprs, "by (instance, worker") || !strings.Contains(firstRowExprs, name) {
			t.Errorf("first row has no per-worker query of %s", name)
		}
	}
}

// aggregation is an aggregation operator with its grouping clause, if any.
var aggregation = regexp.MustCompile(`\b(sum|avg|max|min|count|topk|bottomk|quantile|stddev|stdvar)\s*(by|without)?\s*(\(([^)]*)\))?`)

// Per-worker, per-socket and per-interface series are numbered per director:
// worker 0 of one director is not worker 0 of another. A query over them
// that groups without `instance` sums different directors' workers into one
// line, so every such grouping keeps instance.
func TestPerWorkerQueriesGroupByInstance(t *testing.T) {
	perWorker := regexp.MustCompile(`\bfastlvs_(worker|xsk|steer)_`)
	checked := 0
	for _, p := range allPanels(load(t)) {
		for _, target := range p.Targets {
			if !perWorker.MatchString(target.Expr) {
				continue
			}
			checked++
			for _, m := range aggregation.FindAllStringSubmatch(target.Expr, -1) {
				if m[2] != "by" {
					t.Errorf("panel %q: %q aggregates per-worker series without `by (instance, ...)`: %s", p.Title, m[0], target.Expr)
					continue
				}
				labels := strings.Split(strings.ReplaceAll(m[4], " ", ""), ",")
				if !slices.Contains(labels, "instance") {
					t.Errorf("panel %q: grouping %q lacks instance: %s", p.Title, m[0], target.Expr)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d per-worker queries found: the dashboard did not parse as expected", checked)
	}
}

// The check above catches the mistake it is for.
func TestAggregationPatternSeesGroupings(t *testing.T) {
	m := aggregation.FindAllStringSubmatch(`sum by (worker, cpu) (rate(x[1m])) / sum(rate(y[1m]))`, -1)
	if len(m) != 2 || m[0][2] != "by" || m[0][4] != "worker, cpu" || m[1][2] != "" {
		t.Fatalf("matches %q", m)
	}
}
